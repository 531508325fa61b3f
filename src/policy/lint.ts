// Lint: valid policies that are probably mistakes. Warnings are printed and never block loading.
import { LINT_CODES, type Identity, type LintCode, type LintWarning, type Policy } from './types.ts';

/** MRSIGNER of Occlum's template key etc/template/Enclave.pem, used by `occlum build` without --sign-key. */
export const OCCLUM_DEFAULT_MRSIGNER = '83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e';

export function lintPolicies(policies: Policy[], linesOf: (p: Policy) => Record<string, number> = () => ({})): LintWarning[] {
  const out: LintWarning[] = [];
  for (const p of policies) {
    const lines = linesOf(p);
    const file = p.source?.file ?? p.name;
    const warn = (code: LintCode, detail: string, line: number | undefined) =>
      out.push({ code, file, ...(line ? { line } : {}), policy: p.name, message: `policy ${p.name}: ${detail} (${LINT_CODES[code]})` });

    if (p.debug === 'allow') warn('debug_allowed', 'debug: allow', lines['debug']);
    p.tcb.statuses.forEach((s, i) => {
      const line = lines[`tcb.statuses.${i}`] ?? lines['tcb.statuses'];
      if (s.startsWith('OutOfDate')) warn('status_outofdate_accepted', `tcb.statuses accepts ${s}`, line);
      else if (s.startsWith('Configuration')) warn('status_configuration_accepted', `tcb.statuses accepts ${s}`, line);
    });
    for (const a of p.tcb.advisories) {
      if (!a.expires) warn('advisory_without_expiry', `advisory ${a.id} is allowed with no expires date`, a.line);
    }
    p.match.forEach((m, i) => {
      if (!m.minIsvSvn) {
        const what = m.minIsvSvn === 0 ? 'min_isvsvn is 0' : 'min_isvsvn is absent';
        warn('min_isvsvn_missing', `match ${describeIdentity(m)}: ${what}`, lines[`match.${i}.min_isvsvn`] ?? m.line);
      }
      if (m.mrSigner === OCCLUM_DEFAULT_MRSIGNER) {
        warn('occlum_default_signer', `match ${describeIdentity(m)}: signed with Occlum's default key; build with occlum build --sign-key`, lines[`match.${i}.mrsigner`] ?? m.line);
      }
    });
    p.tdMatch.forEach((m) => {
      // MRTD measures only the TD's initial image (the virtual firmware); what it booted is in the RTMRs.
      if (m.mrTd && !m.rtmr0 && !m.rtmr1 && !m.rtmr2 && !m.rtmr3 && !m.mrConfigId && !m.mrOwner && !m.mrOwnerConfig) {
        warn('rtmrs_unchecked', `match mrtd ${m.mrTd.slice(0, 16)}…: only MRTD is pinned`, m.line);
      }
    });
  }
  out.push(...identityConflicts(policies));
  return out;
}

/** Two policies naming the same MRENCLAVE, or the same MRSIGNER + ISVPRODID, but releasing different secrets. */
function identityConflicts(policies: Policy[]): LintWarning[] {
  const owners = new Map<string, Array<{ policy: Policy; identity: Identity }>>();
  for (const p of policies) {
    const keys = new Set<string>();
    for (const m of p.match) {
      if (m.mrEnclave) keys.add(`mrenclave ${m.mrEnclave}`);
      if (m.mrSigner !== undefined && m.isvProdId !== undefined) keys.add(`mrsigner ${m.mrSigner} isvprodid ${m.isvProdId}`);
    }
    for (const k of keys) {
      const identity = p.match.find((m) => k === `mrenclave ${m.mrEnclave}` || k === `mrsigner ${m.mrSigner} isvprodid ${m.isvProdId}`) ?? {};
      const list = owners.get(k) ?? [];
      list.push({ policy: p, identity });
      owners.set(k, list);
    }
  }
  const out: LintWarning[] = [];
  for (const [key, list] of owners) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i];
        const b = list[j];
        if (!a || !b) continue;
        const sa = secretNames(a.policy);
        const sb = secretNames(b.policy);
        if (sa === sb) continue;
        out.push({
          code: 'identity_conflict',
          file: b.policy.source?.file ?? b.policy.name,
          ...(b.identity.line ? { line: b.identity.line } : {}),
          policy: b.policy.name,
          message:
            `policies ${a.policy.name} and ${b.policy.name} both match ${key} but release different secrets ` +
            `([${sa}] vs [${sb}]) (${LINT_CODES.identity_conflict})`,
        });
      }
    }
  }
  return out;
}

function secretNames(p: Policy): string {
  return [...new Set(p.secrets.map((s) => s.name))].sort().join(', ');
}

export function describeIdentity(m: Identity): string {
  const parts: string[] = [];
  if (m.mrEnclave) parts.push(`mrenclave ${m.mrEnclave.slice(0, 16)}…`);
  if (m.mrSigner) parts.push(`mrsigner ${m.mrSigner.slice(0, 16)}…`);
  if (m.isvProdId !== undefined) parts.push(`isvprodid ${m.isvProdId}`);
  return parts.join(' ') || '(no identity)';
}

/**
 * Policies that release a secret the data directory does not hold (`exists` answers for one name).
 * Kept apart from lintPolicies: it needs the secrets' names, which the pure policy loader never sees.
 */
export function lintSecretsExist(policies: Policy[], exists: (name: string) => boolean): LintWarning[] {
  const out: LintWarning[] = [];
  for (const p of policies) {
    for (const s of p.secrets) {
      if (exists(s.name)) continue;
      out.push({
        code: 'secret_missing',
        file: p.source?.file ?? p.name,
        ...(p.source?.line ? { line: p.source.line } : {}),
        policy: p.name,
        message: `policy ${p.name}: releases secret '${s.name}', which does not exist (create it with warden secret create ${s.name})`,
      });
    }
  }
  return out;
}
