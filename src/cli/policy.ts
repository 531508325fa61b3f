// `warden policy check [DIR]` (schema errors and lint) and `warden policy test` (the operator's dry run:
// verify a quote, evaluate the policies, explain the decision).
import fs from 'node:fs';
import path from 'node:path';
import { evaluate } from '../policy/evaluate.ts';
import { lintSecretsExist } from '../policy/lint.ts';
import { loadPolicies, type LoadResult, type PolicyFileText } from '../policy/load.ts';
import type { Check, Decision, LintWarning, PolicyIssue, PolicySet } from '../policy/types.ts';
import { DATABASE_ENV, databaseUrl, openStore } from '../store/store.ts';
import { listSecretVersions } from '../store/secrets.ts';
import { DEV_DEMO_SECRET, DEV_TOKEN_FILE, devDemoPolicyFiles, isBuiltIn } from './dev.ts';
import { SERVER_FLAGS, requestJson, serverError, serverOf } from './http.ts';
import { CliError, JSON_FLAG, parseFlags, renderGroupHelp, renderHelp, unknownSubcommand, UsageError, type CommandHelp, type Io } from './io.ts';
import { DATABASE_FLAG } from './context.ts';
import { dataDirOf } from './paths.ts';
import { readPolicyFiles } from './policy-files.ts';
import { QUOTE_INPUT_FLAGS, quoteInputs, verifyToJson, type VerifyJson } from './verify.ts';

const POLICIES_FLAG = { policies: { type: 'string', arg: 'DIR', help: 'the policy directory (default ./policies)' } } as const;

const SUBS = {
  check: {
    synopsis: 'policy check [DIR] [--data DIR] [--json]',
    summary: 'load the policy files of DIR (default ./policies): schema errors (exit 1) and lint warnings with stable codes',
    flags: {
      data: { type: 'string', arg: 'DIR', help: 'also warn (secret_missing) about released secrets this data directory does not hold (default: $WARDEN_DATA if set)' },
      ...DATABASE_FLAG,
      ...JSON_FLAG,
    },
  },
  test: {
    synopsis: 'policy test --quote FILE (--collateral FILE | --pccs URL | --dev) [--root-ca FILE] [--at ISO8601] [--policies DIR] [--data DIR] [--json]',
    summary: "the operator's dry run: verify a quote, evaluate the policies at the same time, explain the decision, and say whether each released secret exists",
    flags: { ...QUOTE_INPUT_FLAGS, ...DATABASE_FLAG, ...POLICIES_FLAG, ...JSON_FLAG },
    notes: [
      'With --dev the built-in dev-demo and dev-demo-td policies are evaluated too, as `serve --dev` does.',
      "exit codes: 0 allowed (and every released secret exists, where the data directory is known), 1 denied, 2 usage",
    ].join('\n'),
  },
  reload: {
    synopsis: 'policy reload [--server URL] [--cacert FILE] [--token-file FILE | --dev] [--json]',
    summary: 'make a running server reload its policy directory (a broken set keeps the old one in force: exit 1)',
    flags: {
      ...SERVER_FLAGS,
      'token-file': { type: 'string', arg: 'FILE', help: 'a file holding an admin token (default $WARDEN_ADMIN_TOKEN; with --dev DIR/dev-admin-token)' },
      dev: { type: 'boolean', help: 'use the admin token `serve --dev` keeps in its data directory' },
      data: { type: 'string', arg: 'DIR', help: 'the data directory of --dev (default $WARDEN_DATA, else ./data)' },
      ...JSON_FLAG,
    },
    notes: 'kill -HUP on the server process does the same.',
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(p: string[]): string {
  const sub = p[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp('policy', 'Attestation policies: one YAML file per policy in ./policies; nothing is allowed unless a policy allows it.', SUBS);
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help([]));
    return 2;
  }
  if (sub === 'check') return check(rest, io);
  if (sub === 'test') return testCommand(rest, io);
  if (sub === 'reload') return reload(rest, io);
  throw unknownSubcommand('policy', sub, Object.keys(SUBS));
}

/**
 * Which secrets a data directory holds (names only, no master key), or null when it has no database:
 * then nothing can be said about them.
 */
async function storedSecrets(dataDir: string, databaseFlag: string | undefined): Promise<Set<string> | null> {
  const url = databaseUrl(databaseFlag);
  const file = path.join(dataDir, 'warden.db');
  if (url === undefined && !fs.existsSync(file)) return null;
  const store = await openStore({ url, file });
  try {
    return new Set((await listSecretVersions(store.engine)).map((v) => v.name));
  } finally {
    await store.close();
  }
}

const where = (x: { file: string; line?: number }) => `${x.file}${x.line ? `:${x.line}` : ''}`;
const issueLine = (i: PolicyIssue) => `${where(i)}: error ${i.code}: ${i.message}`;
const warningLine = (w: LintWarning) => `${where(w)}: warning ${w.code}: ${w.message}`;

function load(dir: string, extra: PolicyFileText[] = []): LoadResult & { files: number } {
  const files = readPolicyFiles(dir);
  const result = loadPolicies([...files, ...extra]);
  if (files.length === 0) {
    result.issues.push({ code: 'no_policies', file: dir, message: 'no policy files (*.yaml, *.yml) in this directory' });
    result.set = null;
  }
  return { ...result, files: files.length };
}

async function check(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, SUBS.check.flags, true);
  if (positionals.length > 1) throw new UsageError('expected at most one DIR');
  const dir = positionals[0] ?? 'policies';
  const r = load(dir);
  const dataGiven = values.data !== undefined || values.database !== undefined || !!process.env['WARDEN_DATA'] || !!process.env[DATABASE_ENV];
  if (dataGiven && r.set) {
    const dataDir = dataDirOf(values.data);
    const names = await storedSecrets(dataDir, values.database);
    if (!names) throw new CliError('no_database', `no Warden database in ${dataDir}: cannot check which secrets exist (drop --data, or give the server's data directory)`);
    r.warnings.push(...lintSecretsExist(r.set.policies, (n) => names.has(n)));
  }
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
  /** Per released secret: whether the data directory holds it (null: no database there to ask). */
  secretsExist: Array<{ name: string; exists: boolean | null }>;
  /** What the server would do: allowed, and no released secret missing from the data directory. */
  serverWouldRelease: boolean;
  dataDir: string;
  policy: string | null;
  policySetHash: string;
  at: string;
  verification: Pick<VerifyJson, 'ok' | 'status' | 'advisoryIds' | 'tcbDate' | 'tdxModule' | 'error' | 'report'>;
  policies: Decision['policies'];
  reasons: string[];
  releasedBy: Decision['releasedBy'];
}

async function testCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.test.flags);
  const inputs = quoteInputs(values);
  const at = inputs.at;

  // Policies first: an invalid policy set is a usage error (exit 2), whatever the quote.
  const dir = values.policies ?? 'policies';
  const loaded = load(dir, values.dev ? devDemoPolicyFiles() : []);
  loaded.warnings = loaded.warnings.filter((w) => !isBuiltIn(w));
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
  const dataDir = dataDirOf(values.data);
  const stored = await storedSecrets(dataDir, values.database);
  const secretsExist = decision.secrets.map((name) => ({
    name,
    exists: values.dev && name === DEV_DEMO_SECRET.name ? true : stored ? stored.has(name) : null,
  }));
  const out: PolicyTestJson = {
    allowed: decision.allowed,
    secrets: decision.secrets,
    secretsExist,
    serverWouldRelease: decision.allowed && secretsExist.every((s) => s.exists !== false),
    dataDir,
    policy: decision.policy,
    policySetHash: decision.policySetHash,
    at: at.toISOString(),
    verification: { ok: v.ok, status: v.status, advisoryIds: v.advisoryIds, tcbDate: v.tcbDate, ...(v.tdxModule ? { tdxModule: v.tdxModule } : {}), error: v.error, report: v.report },
    policies: decision.policies,
    reasons: decision.reasons,
    releasedBy: decision.releasedBy,
  };
  if (values.json) io.out(JSON.stringify(out));
  else printDecision(io, out, set, loaded.warnings);
  return out.serverWouldRelease ? 0 : 1;
}

/** The admin token for reload: --token-file, $WARDEN_ADMIN_TOKEN, or (--dev) the development token file. */
function adminToken(f: { 'token-file'?: string | undefined; dev?: boolean | undefined; data?: string | undefined }): string {
  const read = (file: string, hint: string) => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new CliError('no_token', `cannot read the admin token in ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}${hint}`);
    }
  };
  if (f['token-file']) return read(f['token-file'], '');
  const env = process.env['WARDEN_ADMIN_TOKEN'];
  if (env) return env.trim();
  if (f.dev) return read(path.join(dataDirOf(f.data), DEV_TOKEN_FILE), ' (npm start writes it on its first start)');
  throw new UsageError('give --token-file FILE, set WARDEN_ADMIN_TOKEN, or pass --dev for the development server');
}

async function reload(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, SUBS.reload.flags);
  const server = serverOf(values);
  const token = adminToken(values);
  const r = await requestJson(server, 'POST', '/v1/admin/policies/reload', undefined, { authorization: `Bearer ${token}` });
  if (r.status !== 200) throw serverError(r, 'POST /v1/admin/policies/reload');
  const body = r.body as { policySetHash: string; policies: Array<{ name: string; version: number | string }> };
  if (values.json) io.out(JSON.stringify({ ok: true, ...body }));
  else io.out(`policies reloaded on ${server.url.origin}: ${body.policies.map((p) => `${p.name} v${p.version}`).join(', ') || 'none'}; set hash ${body.policySetHash}`);
  return 0;
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
    if (d.verification.tdxModule?.advisoryIds.length) io.out(`          TDX module ${d.verification.tdxModule.status} (advisories ${d.verification.tdxModule.advisoryIds.join(', ')})`);
  } else if (v.report) {
    const r = v.report;
    io.out(`enclave:  mrenclave ${r.mrEnclave}`);
    io.out(`          mrsigner ${r.mrSigner}  isvprodid ${r.isvProdId}  isvsvn ${r.isvSvn}${r.debug ? '  DEBUG ENCLAVE' : ''}`);
  }
  io.out(`policies: ${set.policies.length} loaded, set hash ${set.hash}${warnings.length ? ` (${warnings.length} lint warning(s): run warden policy check)` : ''}`);
  for (const p of d.policies) {
    if (!p.matched) {
      io.out(`  policy ${p.name} v${p.version}: does not match this ${v.report?.teeType === 'TDX' ? 'TD' : 'enclave'}`);
      continue;
    }
    io.out(`  policy ${p.name} v${p.version}: matches, ${p.ok ? 'all checks pass' : 'REFUSES'}`);
    for (const c of p.checks) io.out(`    ${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.message}${checkDetail(c)}`);
  }
  if (d.allowed) {
    io.out(`ALLOWED: releases ${d.secrets.join(', ')}${d.policy ? ` (policy ${[...new Set(Object.values(d.releasedBy).map((x) => x.policy))].join(', ')})` : ''}`);
    for (const s of d.secretsExist) {
      if (s.exists === true) io.out(`  secret ${s.name}: exists in ${d.dataDir}`);
      else if (s.exists === false) io.out(`  secret ${s.name}: MISSING from ${d.dataDir}; the server would refuse (policy_denied, secrets_not_released): warden secret create ${s.name}`);
      else io.out(`  secret ${s.name}: unknown (no database in ${d.dataDir}; give --data DIR to check)`);
    }
  } else {
    io.out('DENIED: no secret is released');
    for (const r of d.reasons) io.out(`  - ${r}`);
  }
}

function checkDetail(c: Check): string {
  if (c.name === 'identity') return '';
  return ` [expected ${show(c.expected)}; actual ${show(c.actual)}]`;
}
