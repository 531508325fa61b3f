// Turns policy file texts into one PolicySet with a content hash. Pure: the caller reads the files.
import { createHash } from 'node:crypto';
import { parsePolicyText } from './parse.ts';
import { lintPolicies } from './lint.ts';
import { TD_IDENTITY_FIELDS, type LintWarning, type Policy, type PolicyIssue, type PolicySet } from './types.ts';

export interface PolicyFileText {
  file: string;
  text: string;
}

export interface LoadResult {
  /** Null when any file has an error: a half-loaded policy set is never used. */
  set: PolicySet | null;
  issues: PolicyIssue[];
  warnings: LintWarning[];
}

export function loadPolicies(files: PolicyFileText[]): LoadResult {
  const issues: PolicyIssue[] = [];
  const policies: Policy[] = [];
  const lines = new Map<Policy, Record<string, number>>();
  const byName = new Map<string, Policy>();
  for (const f of files) {
    const parsed = parsePolicyText(f.file, f.text);
    issues.push(...parsed.issues);
    const p = parsed.policy;
    if (!p) continue;
    const prior = byName.get(p.name);
    if (prior) {
      issues.push({
        code: 'duplicate_name',
        file: f.file,
        ...(p.source?.line ? { line: p.source.line } : {}),
        message: `policy name '${p.name}' is already used by ${prior.source?.file ?? 'another file'}`,
      });
      continue;
    }
    byName.set(p.name, p);
    policies.push(p);
    lines.set(p, parsed.lines);
  }
  const warnings = lintPolicies(policies, (p) => lines.get(p) ?? {});
  if (issues.length > 0) return { set: null, issues, warnings };
  return { set: makePolicySet(policies), issues, warnings };
}

/** A set from already-built policies (tests, the server's reload). Names must be unique. */
export function makePolicySet(policies: Policy[]): PolicySet {
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.name === sorted[i - 1]?.name) throw new Error(`duplicate policy name ${sorted[i]?.name}`);
  }
  return { policies: sorted, hash: policySetHash(sorted) };
}

/**
 * SHA-256 over the canonical JSON of the effective policies (defaults applied, sorted by name, keys sorted,
 * no file names or lines): reformatting or commenting a file keeps the hash; changing what it allows changes it.
 */
export function policySetHash(policies: Policy[]): string {
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const canonical = sorted.map(canonicalPolicy);
  return createHash('sha256').update(canonicalJson({ warden_policy_set: 1, policies: canonical })).digest('hex');
}

function canonicalPolicy(p: Policy): unknown {
  return {
    name: p.name,
    version: p.version,
    match: p.match.map((m) => ({
      mrenclave: m.mrEnclave ?? null,
      mrsigner: m.mrSigner ?? null,
      isvprodid: m.isvProdId ?? null,
      min_isvsvn: m.minIsvSvn ?? null,
      isvfamilyid: m.isvFamilyId ?? null,
      isvextprodid: m.isvExtProdId ?? null,
      configid: m.configId ?? null,
      min_configsvn: m.minConfigSvn ?? null,
    })),
    // TDX policies only: an SGX policy's canonical form (and so every existing set hash) is unchanged.
    ...(p.tee === 'TDX'
      ? { tee: 'tdx', td_match: p.tdMatch.map((m) => Object.fromEntries(TD_IDENTITY_FIELDS.map(([key, field]) => [key, m[field] ?? null]))) }
      : {}),
    debug: p.debug,
    tcb: {
      statuses: [...p.tcb.statuses].sort(),
      advisories: p.tcb.advisories
        .map((a) => ({ id: a.id, expires: a.expires ? a.expires.toISOString() : null }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      min_tcb_date: p.tcb.minTcbDate ?? null,
    },
    collateral: { max_age_seconds: p.collateral.maxAgeSeconds ?? null },
    secrets: p.secrets.map((s) => ({ name: s.name, versions: s.versions })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
