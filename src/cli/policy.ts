// `warden policy check [DIR]` (schema errors and lint) and `warden policy test` (the operator's dry run:
// verify a quote, evaluate the policies, explain the decision).
import { evaluate } from '../policy/evaluate.ts';
import { loadPolicies, type LoadResult } from '../policy/load.ts';
import type { Check, Decision, LintWarning, PolicyIssue, PolicySet } from '../policy/types.ts';
import { parseFlags, UsageError, type Io } from './io.ts';
import { readPolicyFiles } from './policy-files.ts';
import { QUOTE_INPUT_FLAGS, quoteInputs, verifyToJson, type VerifyJson } from './verify.ts';

const USAGE = [
  'usage: warden policy check [DIR] [--json]',
  '       warden policy test --quote FILE (--collateral FILE | --pccs URL) [--root-ca PEMFILE] [--at ISO8601] [--policies DIR] [--json]',
].join('\n');

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'check') return check(rest, io);
  if (sub === 'test') return testCommand(rest, io);
  throw new UsageError(`unknown sub-command '${sub}' (try 'warden policy --help')`);
}

const where = (x: { file: string; line?: number }) => `${x.file}${x.line ? `:${x.line}` : ''}`;
const issueLine = (i: PolicyIssue) => `${where(i)}: error ${i.code}: ${i.message}`;
const warningLine = (w: LintWarning) => `${where(w)}: warning ${w.code}: ${w.message}`;

function load(dir: string): LoadResult & { files: number } {
  const files = readPolicyFiles(dir);
  const result = loadPolicies(files);
  if (files.length === 0) {
    result.issues.push({ code: 'no_policies', file: dir, message: 'no policy files (*.yaml, *.yml) in this directory' });
    result.set = null;
  }
  return { ...result, files: files.length };
}

async function check(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, { json: { type: 'boolean' } }, true);
  if (positionals.length > 1) throw new UsageError('expected at most one DIR');
  const dir = positionals[0] ?? 'policies';
  const r = load(dir);
  if (values.json) {
    io.out(
      JSON.stringify({
        ok: r.issues.length === 0,
        policySetHash: r.set?.hash ?? null,
        policies: r.set?.policies.map((p) => ({ name: p.name, version: p.version, file: p.source?.file ?? null, secrets: p.secrets.map((s) => s.name) })) ?? [],
        errors: r.issues,
        warnings: r.warnings,
      }),
    );
  } else {
    // A linter's findings are its output: stdout, like other linters, so they can be piped.
    for (const i of r.issues) io.out(issueLine(i));
    for (const w of r.warnings) io.out(warningLine(w));
    const summary = `${r.issues.length} error(s), ${r.warnings.length} warning(s)`;
    if (r.set) io.out(`${dir}: ${r.set.policies.length} polic${r.set.policies.length === 1 ? 'y' : 'ies'} loaded, set hash ${r.set.hash}; ${summary}`);
    else io.out(`${dir}: not loadable; ${summary}`);
  }
  return r.issues.length > 0 ? 1 : 0;
}

export interface PolicyTestJson {
  allowed: boolean;
  secrets: string[];
  policy: string | null;
  policySetHash: string;
  at: string;
  verification: Pick<VerifyJson, 'ok' | 'status' | 'advisoryIds' | 'tcbDate' | 'error' | 'report'>;
  policies: Decision['policies'];
  reasons: string[];
  releasedBy: Decision['releasedBy'];
}

async function testCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { ...QUOTE_INPUT_FLAGS, policies: { type: 'string' }, json: { type: 'boolean' } });
  const inputs = quoteInputs(values);
  const at = inputs.at;

  // Policies first: an invalid policy set is a usage error (exit 2), whatever the quote.
  const dir = values.policies ?? 'policies';
  const loaded = load(dir);
  if (!loaded.set) {
    for (const i of loaded.issues) io.err(issueLine(i));
    throw new UsageError(`policies in '${dir}' do not load (${loaded.issues.length} error(s); run 'warden policy check ${dir}')`);
  }
  const set: PolicySet = loaded.set;

  const { json: v, verification } = await verifyToJson(inputs);

  let decision: Decision;
  if (verification) {
    decision = evaluate(set, verification, { now: at });
  } else {
    const err = v.error ?? { code: 'unknown', message: 'verification failed' };
    decision = {
      allowed: false,
      secrets: [],
      policy: null,
      releasedBy: {},
      policySetHash: set.hash,
      policies: [],
      reasons: [`quote did not verify: ${err.code}: ${err.message}`],
    };
  }
  const out: PolicyTestJson = {
    allowed: decision.allowed,
    secrets: decision.secrets,
    policy: decision.policy,
    policySetHash: decision.policySetHash,
    at: at.toISOString(),
    verification: { ok: v.ok, status: v.status, advisoryIds: v.advisoryIds, tcbDate: v.tcbDate, error: v.error, report: v.report },
    policies: decision.policies,
    reasons: decision.reasons,
    releasedBy: decision.releasedBy,
  };
  if (values.json) io.out(JSON.stringify(out));
  else printDecision(io, out, set, loaded.warnings);
  return decision.allowed ? 0 : 1;
}

function show(v: unknown): string {
  if (Array.isArray(v)) return v.map(show).join(', ');
  if (v !== null && typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${show(x)}`)
      .join(' ');
  }
  return String(v);
}

function printDecision(io: Io, d: PolicyTestJson, set: PolicySet, warnings: LintWarning[]): void {
  const v = d.verification;
  if (v.ok) {
    io.out(`quote:    verified at ${d.at}; TCB status ${v.status}${v.advisoryIds.length ? ` (advisories ${v.advisoryIds.join(', ')})` : ''}; tcb date ${v.tcbDate}`);
  } else {
    io.out(`quote:    NOT verified at ${d.at}: ${v.error?.code}: ${v.error?.message}`);
  }
  if (v.report?.teeType === 'TDX') {
    const r = v.report;
    io.out(`TD:       mrtd ${r.mrTd}`);
    io.out(`          rtmr0 ${r.rtmr0}${r.debug ? '  DEBUG TD' : ''}`);
  } else if (v.report) {
    const r = v.report;
    io.out(`enclave:  mrenclave ${r.mrEnclave}`);
    io.out(`          mrsigner ${r.mrSigner}  isvprodid ${r.isvProdId}  isvsvn ${r.isvSvn}${r.debug ? '  DEBUG ENCLAVE' : ''}`);
  }
  io.out(`policies: ${set.policies.length} loaded, set hash ${set.hash}${warnings.length ? ` (${warnings.length} lint warning(s): run warden policy check)` : ''}`);
  for (const p of d.policies) {
    if (!p.matched) {
      io.out(`  policy ${p.name} v${p.version}: does not match this enclave`);
      continue;
    }
    io.out(`  policy ${p.name} v${p.version}: matches, ${p.ok ? 'all checks pass' : 'REFUSES'}`);
    for (const c of p.checks) io.out(`    ${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.message}${checkDetail(c)}`);
  }
  if (d.allowed) {
    io.out(`ALLOWED: releases ${d.secrets.join(', ')}${d.policy ? ` (policy ${[...new Set(Object.values(d.releasedBy).map((x) => x.policy))].join(', ')})` : ''}`);
  } else {
    io.out('DENIED: no secret is released');
    for (const r of d.reasons) io.out(`  - ${r}`);
  }
}

function checkDetail(c: Check): string {
  if (c.name === 'identity') return '';
  return ` [expected ${show(c.expected)}; actual ${show(c.actual)}]`;
}
