// Evaluates a policy set against one verified quote. Default deny; every decision explains each check.
import type { ReportBody, TdReport, TdxModuleVerdict, Verification } from '../dcap/types.ts';
import { TD_IDENTITY_FIELDS, type Check, type Decision, type Identity, type Policy, type PolicyResult, type PolicySet, type SecretVersions, type TdIdentity } from './types.ts';
import { parseDate } from './time.ts';

type Common = Pick<Verification, 'status' | 'advisoryIds' | 'tcbDate' | 'collateralIssuedAt'>;

/** What evaluation reads from an SGX Verification (a full one fits; teeType may be left out). */
export type SgxEvaluationInput = Common & {
  teeType?: 'SGX';
  report: Pick<ReportBody, 'mrEnclave' | 'mrSigner' | 'isvProdId' | 'isvSvn' | 'configSvn' | 'isvFamilyId' | 'isvExtProdId' | 'configId' | 'debug'>;
};

/** What evaluation reads from a TDX Verification: the TDX module's advisories count as the platform's do. */
export type TdxEvaluationInput = Common & { teeType: 'TDX'; report: TdReport; tdx: Pick<TdxModuleVerdict, 'moduleAdvisoryIds'> };

export type EvaluationInput = SgxEvaluationInput | TdxEvaluationInput;

export interface EvaluateOptions {
  /** Evaluation time: advisory expiries and collateral age are judged at this moment. */
  now: Date;
  /**
   * The secrets the enclave asks for. When given, the request is allowed only if every one is released by a
   * matching policy whose checks all pass; otherwise it is denied whole. When absent, everything releasable is released.
   */
  requestedSecrets?: string[];
}

const hex = (b: Buffer) => b.toString('hex');

export function evaluate(set: PolicySet, v: EvaluationInput, opts: EvaluateOptions): Decision {
  const results: PolicyResult[] = [];
  const releasedBy: Decision['releasedBy'] = {};
  const passing: string[] = [];
  for (const p of [...set.policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = evaluatePolicy(p, v, opts.now);
    results.push(r);
    if (!r.ok) continue;
    passing.push(p.name);
    for (const s of p.secrets) {
      if (!releasedBy[s.name]) releasedBy[s.name] = { policy: p.name, policyVersion: p.version, versions: s.versions };
    }
  }

  const reasons: string[] = [];
  const failureReasons = () => {
    const matched = results.filter((r) => r.matched);
    if (matched.length === 0) {
      reasons.push(
        v.teeType === 'TDX'
          ? `no policy matches this TD (mrtd ${hex(v.report.mrTd)})`
          : `no policy matches this enclave (mrenclave ${hex(v.report.mrEnclave)}, mrsigner ${hex(v.report.mrSigner)}, isvprodid ${v.report.isvProdId})`,
      );
    }
    for (const r of matched) for (const c of r.checks) if (!c.ok) reasons.push(c.message);
  };
  const deny = (): Decision => ({
    allowed: false,
    secrets: [],
    policy: null,
    releasedBy: {},
    policySetHash: set.hash,
    policies: results,
    reasons: [...new Set(reasons)],
  });

  if (opts.requestedSecrets === undefined) {
    const secrets = Object.keys(releasedBy).sort();
    if (secrets.length === 0) {
      failureReasons();
      return deny();
    }
    return { allowed: true, secrets, policy: passing[0] ?? null, releasedBy, policySetHash: set.hash, policies: results, reasons: [] };
  }

  const requested = [...new Set(opts.requestedSecrets)].sort();
  if (requested.length === 0) {
    reasons.push('no secrets were requested');
    return deny();
  }
  const missing = requested.filter((s) => !releasedBy[s]);
  if (missing.length > 0) {
    if (passing.length === 0) failureReasons();
    for (const s of missing) {
      reasons.push(passing.length === 0 ? `secret ${s} not released: no matching policy passed` : `secret ${s} is not released to this enclave by policy ${passing.join(', ')}`);
    }
    return deny();
  }
  const granted: Decision['releasedBy'] = {};
  for (const s of requested) granted[s] = releasedBy[s] as Decision['releasedBy'][string];
  const first = requested[0] as string;
  return {
    allowed: true,
    secrets: requested,
    policy: granted[first]?.policy ?? null,
    releasedBy: granted,
    policySetHash: set.hash,
    policies: results,
    reasons: [],
  };
}

function unmatched(p: Policy, actual: unknown, message: string): PolicyResult {
  const expected = p.tee === 'TDX' ? p.tdMatch.map(tdIdentityKey) : p.match.map(identityKey);
  return { name: p.name, version: p.version, matched: false, ok: false, checks: [{ name: 'identity', ok: false, expected, actual, message }] };
}

function evaluatePolicy(p: Policy, v: EvaluationInput, now: Date): PolicyResult {
  // One policy, one TEE type: an SGX identity never matches a TD, nor a TD identity an enclave.
  const tee = v.teeType ?? 'SGX';
  if (p.tee !== tee) {
    const actual = v.teeType === 'TDX' ? { tee: 'TDX', mrtd: hex(v.report.mrTd) } : { tee: 'SGX', mrenclave: hex(v.report.mrEnclave) };
    return unmatched(p, actual, `policy ${p.name} names ${p.tee === 'TDX' ? 'TDX trust domains' : 'SGX enclaves'}; this is ${tee === 'TDX' ? 'a TDX' : 'an SGX'} quote`);
  }
  if (v.teeType === 'TDX') return evaluateTdPolicy(p, v, now);
  const r = v.report;
  const actualIdentity = { mrenclave: hex(r.mrEnclave), mrsigner: hex(r.mrSigner), isvprodid: r.isvProdId };
  const candidates = p.match.filter((m) => identityMatches(m, r));
  if (candidates.length === 0) {
    return {
      name: p.name,
      version: p.version,
      matched: false,
      ok: false,
      checks: [
        {
          name: 'identity',
          ok: false,
          expected: p.match.map(identityKey),
          actual: actualIdentity,
          message: `enclave is not one policy ${p.name} names`,
        },
      ],
    };
  }
  // Among matching identities, the first whose attribute checks all pass decides; else the first explains the failure.
  const perIdentity = candidates.map((m) => ({ m, checks: identityChecks(m, r) }));
  const chosen = perIdentity.find((x) => x.checks.every((c) => c.ok)) ?? perIdentity[0];
  const checks: Check[] = [
    {
      name: 'identity',
      ok: true,
      expected: chosen ? identityKey(chosen.m) : null,
      actual: actualIdentity,
      message: `enclave matches policy ${p.name}`,
    },
    ...(chosen?.checks ?? []),
    debugCheck(p, r.debug),
    ...tcbChecks(p, v, now),
    ...collateralChecks(p, v, now),
  ];
  return { name: p.name, version: p.version, matched: true, ok: checks.every((c) => c.ok), checks };
}

/** A TDX policy: the first TD identity whose every named measurement equals the TD report's decides. */
function evaluateTdPolicy(p: Policy, v: TdxEvaluationInput, now: Date): PolicyResult {
  const r = v.report;
  const actual = tdActual(r);
  const chosen = p.tdMatch.find((m) => tdMismatches(m, r).length === 0);
  if (!chosen) {
    const why = p.tdMatch.map((m, i) => `identity ${i + 1}: ${tdMismatches(m, r).join(', ')}`).join('; ');
    return unmatched(p, actual, `TD is not one policy ${p.name} names (${why})`);
  }
  const pinned = TD_IDENTITY_FIELDS.filter(([, f]) => chosen[f] !== undefined).map(([k]) => k);
  const checks: Check[] = [
    { name: 'identity', ok: true, expected: tdIdentityKey(chosen), actual, message: `TD matches policy ${p.name} (${pinned.join(', ')} equal)` },
    debugCheck(p, r.debug, 'TD'),
    ...tcbChecks(p, v, now),
    ...collateralChecks(p, v, now),
  ];
  return { name: p.name, version: p.version, matched: true, ok: checks.every((c) => c.ok), checks };
}

/** The measurements of a TD report a policy can name, as lower-case hex. */
function tdActual(r: TdReport): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, field] of TD_IDENTITY_FIELDS) out[key] = hex(r[field]);
  return out;
}

function tdMismatches(m: TdIdentity, r: TdReport): string[] {
  const out: string[] = [];
  for (const [key, field] of TD_IDENTITY_FIELDS) {
    const want = m[field];
    if (want !== undefined && want !== hex(r[field])) out.push(`${key} ${hex(r[field]).slice(0, 16)}… != ${want.slice(0, 16)}…`);
  }
  return out;
}

function tdIdentityKey(m: TdIdentity): Record<string, string> {
  const k: Record<string, string> = {};
  for (const [key, field] of TD_IDENTITY_FIELDS) if (m[field] !== undefined) k[key] = m[field]!;
  return k;
}

function identityMatches(m: Identity, r: SgxEvaluationInput['report']): boolean {
  // No wildcard: an identity that names neither measurement matches nothing (the schema already forbids it).
  if (m.mrEnclave === undefined && (m.mrSigner === undefined || m.isvProdId === undefined)) return false;
  if (m.mrEnclave !== undefined && m.mrEnclave !== hex(r.mrEnclave)) return false;
  if (m.mrSigner !== undefined && m.mrSigner !== hex(r.mrSigner)) return false;
  if (m.isvProdId !== undefined && m.isvProdId !== r.isvProdId) return false;
  return true;
}

function identityKey(m: Identity): Record<string, string | number> {
  const k: Record<string, string | number> = {};
  if (m.mrEnclave !== undefined) k.mrenclave = m.mrEnclave;
  if (m.mrSigner !== undefined) k.mrsigner = m.mrSigner;
  if (m.isvProdId !== undefined) k.isvprodid = m.isvProdId;
  return k;
}

function identityChecks(m: Identity, r: SgxEvaluationInput['report']): Check[] {
  const checks: Check[] = [];
  const min = m.minIsvSvn ?? 0;
  checks.push({
    name: 'min_isvsvn',
    ok: r.isvSvn >= min,
    expected: min,
    actual: r.isvSvn,
    message: r.isvSvn >= min ? `isvsvn ${r.isvSvn} >= min_isvsvn ${min}` : `isvsvn ${r.isvSvn} < min_isvsvn ${min}`,
  });
  const eq = (name: string, expected: string | undefined, actual: Buffer) => {
    if (expected === undefined) return;
    const a = hex(actual);
    checks.push({ name, ok: a === expected, expected, actual: a, message: a === expected ? `${name} matches` : `${name} ${a} != expected ${expected}` });
  };
  eq('isvfamilyid', m.isvFamilyId, r.isvFamilyId);
  eq('isvextprodid', m.isvExtProdId, r.isvExtProdId);
  eq('configid', m.configId, r.configId);
  if (m.minConfigSvn !== undefined) {
    const ok = r.configSvn >= m.minConfigSvn;
    checks.push({
      name: 'min_configsvn',
      ok,
      expected: m.minConfigSvn,
      actual: r.configSvn,
      message: ok ? `configsvn ${r.configSvn} >= min_configsvn ${m.minConfigSvn}` : `configsvn ${r.configSvn} < min_configsvn ${m.minConfigSvn}`,
    });
  }
  return checks;
}

function debugCheck(p: Policy, debug: boolean, what: 'enclave' | 'TD' = 'enclave'): Check {
  const actual = debug ? 'debug' : 'production';
  const bit = what === 'TD' ? ' (TD_ATTRIBUTES.DEBUG)' : '';
  if (!debug) return { name: 'debug', ok: true, expected: p.debug, actual, message: `production ${what} (not debug)` };
  if (p.debug === 'allow') return { name: 'debug', ok: true, expected: p.debug, actual, message: `debug ${what}${bit} allowed by policy ${p.name}` };
  return { name: 'debug', ok: false, expected: p.debug, actual, message: `debug ${what}${bit} refused by policy ${p.name}` };
}

function tcbChecks(p: Policy, v: EvaluationInput, now: Date): Check[] {
  const checks: Check[] = [];
  const accepted = (p.tcb.statuses as string[]).includes(v.status);
  checks.push({
    name: 'tcb_status',
    ok: accepted,
    expected: p.tcb.statuses,
    actual: v.status,
    message: accepted ? `tcb status ${v.status} accepted` : `tcb status ${v.status} not accepted (accepted: ${p.tcb.statuses.join(', ')})`,
  });
  checks.push(advisoryCheck(p, v, now));
  if (p.tcb.minTcbDate !== undefined) {
    const min = parseDate(p.tcb.minTcbDate);
    const actual = new Date(v.tcbDate);
    const ok = min !== undefined && !Number.isNaN(actual.getTime()) && actual.getTime() >= min.getTime();
    checks.push({
      name: 'min_tcb_date',
      ok,
      expected: p.tcb.minTcbDate,
      actual: v.tcbDate,
      message: ok ? `tcb date ${v.tcbDate} >= min_tcb_date ${p.tcb.minTcbDate}` : `tcb date ${v.tcbDate} < min_tcb_date ${p.tcb.minTcbDate}`,
    });
  }
  return checks;
}

/**
 * The advisories a policy must allow: the matched platform level's, and for a TD also its TDX module level's. Intel's
 * QvE reports only the platform level's (qve.cpp: sa_list from getMatchingTcbLevel), yet a module level that is not
 * UpToDate makes the TD's status what it is: a policy accepting that status must name what it accepts.
 */
function advisoriesOf(v: EvaluationInput): Array<{ id: string; where: string }> {
  const platform = v.advisoryIds.map((id) => ({ id, where: '' }));
  if (v.teeType !== 'TDX') return platform;
  return [...platform, ...v.tdx.moduleAdvisoryIds.filter((id) => !v.advisoryIds.includes(id)).map((id) => ({ id, where: ' (TDX module)' }))];
}

/** A status other than UpToDate is accepted only if every advisory on the quote is allowed and unexpired. */
function advisoryCheck(p: Policy, v: EvaluationInput, now: Date): Check {
  const expected = p.tcb.advisories.map((a) => (a.expires ? { id: a.id, expires: a.expires.toISOString() } : { id: a.id }));
  const advisories = advisoriesOf(v);
  const actual = advisories.map((a) => a.id);
  if (v.status === 'UpToDate') {
    return { name: 'advisories', ok: true, expected, actual, message: 'status UpToDate: no advisory needs an allowance' };
  }
  const problems: string[] = [];
  for (const { id, where } of advisories) {
    const allowed = p.tcb.advisories.find((a) => a.id === id);
    if (!allowed) problems.push(`advisory ${id}${where} not allowed`);
    else if (allowed.expires && now.getTime() >= allowed.expires.getTime()) problems.push(`advisory ${id}${where} allowance expired on ${allowed.expires.toISOString()}`);
  }
  return {
    name: 'advisories',
    ok: problems.length === 0,
    expected,
    actual,
    message: problems.length === 0 ? (actual.length ? `advisories ${advisories.map((a) => a.id + a.where).join(', ')} allowed` : 'no advisories on this platform') : problems.join('; '),
  };
}

function collateralChecks(p: Policy, v: EvaluationInput, now: Date): Check[] {
  if (p.collateral.maxAgeSeconds === undefined) return [];
  const ageSeconds = Math.floor((now.getTime() - v.collateralIssuedAt.getTime()) / 1000);
  const ok = ageSeconds <= p.collateral.maxAgeSeconds;
  return [
    {
      name: 'collateral_age',
      ok,
      expected: p.collateral.maxAge ?? `${p.collateral.maxAgeSeconds}s`,
      actual: formatAge(ageSeconds),
      message: ok
        ? `collateral issued ${formatAge(ageSeconds)} ago, within max_age ${p.collateral.maxAge}`
        : `collateral issued ${formatAge(ageSeconds)} ago, older than max_age ${p.collateral.maxAge}`,
    },
  ];
}

function formatAge(seconds: number): string {
  if (seconds < 0) return '0s';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d${h ? `${h}h` : ''}`;
  if (h > 0) return `${h}h${m ? `${m}m` : ''}`;
  if (m > 0) return `${m}m`;
  return `${seconds}s`;
}
