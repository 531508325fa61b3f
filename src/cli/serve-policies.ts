// The policy side of `warden serve`: the policy directory with its lint warnings (including policies
// that release secrets that do not exist), and SIGHUP reloading it.
import fs from 'node:fs';
import { lintSecretsExist } from '../policy/lint.ts';
import type { LintWarning, PolicySet } from '../policy/types.ts';
import { auditReasonOf, codeOf } from '../protocol/errors.ts';
import { DirectoryPolicySource } from '../server/policy-source.ts';
import type { AuditLog } from '../store/audit.ts';
import { listSecretVersions } from '../store/secrets.ts';
import type { ServeConfig } from './config.ts';
import type { Context } from './context.ts';
import { DEV_DEMO_SECRET, devDemoPolicyFiles, isBuiltIn } from './dev.ts';
import type { Io } from './io.ts';

const LOUD = '*'.repeat(78);

export function loud(io: Io, lines: string[]): void {
  io.err([LOUD, ...lines.map((l) => `* ${l}`), LOUD].join('\n'));
}

/** Names of the stored secrets (no master key needed), for the secret_missing warning. */
async function storedSecretNames(ctx: Context): Promise<Set<string>> {
  return new Set((await listSecretVersions(ctx.engine)).map((v) => v.name));
}

/**
 * The policy directory (created empty in --dev; plus the built-in dev-demo and dev-demo-td policies there), with lint
 * warnings printed after every load, including policies that release secrets that do not exist.
 * Loads are synchronous and the store is not: the secret_missing check of each load runs after it, in
 * load order; `warned()` settles when every check so far has printed.
 */
export function openPolicies(c: ServeConfig, io: Io, ctx: Context): { policies: DirectoryPolicySource; warned: () => Promise<void> } {
  if (!fs.existsSync(c.policiesDir)) {
    if (!c.dev) throw new Error(`policy directory ${c.policiesDir} does not exist (give --policies DIR)`);
    fs.mkdirSync(c.policiesDir, { recursive: true });
  }
  const print = (w: LintWarning) => {
    if (!isBuiltIn(w)) io.err(`policy warning ${w.code}: ${w.file}${w.line ? `:${w.line}` : ''}: ${w.message}`);
  };
  let pending: Promise<void> = Promise.resolve();
  const warn = (ws: LintWarning[], set: PolicySet) => {
    for (const w of ws) print(w);
    pending = pending.then(async () => {
      try {
        const names = await storedSecretNames(ctx);
        const exists = (n: string) => names.has(n) || (c.dev && n === DEV_DEMO_SECRET.name);
        for (const w of lintSecretsExist(set.policies, exists)) print(w);
      } catch (e) {
        io.err(`policy warning: could not check which released secrets exist: ${(e as Error).message}`);
      }
    });
  };
  const policies = new DirectoryPolicySource(c.policiesDir, warn, c.dev ? devDemoPolicyFiles() : []);
  if (!policies.current().policies.length) loud(io, [`No policies in ${c.policiesDir}: every attestation will be denied.`]);
  return { policies, warned: () => pending };
}

/** SIGHUP: reload the policies like POST /v1/admin/policies/reload; a broken set keeps the old one. */
export function reloadOnHangup(policies: DirectoryPolicySource, audit: AuditLog, io: Io): () => void {
  // A signal has no caller to answer: an audit write that fails (database down) is said on stderr, never
  // left as an unhandled rejection, which would stop the server.
  const record = (outcome: 'ok' | 'failed', data: Record<string, unknown>) =>
    audit.append({ type: 'admin', actor: 'signal:SIGHUP', outcome, data: { action: 'policies.reload', ...data } }).catch((e: unknown) => {
      io.err(`warden: SIGHUP: the audit entry of this reload was not written: ${(e as Error).message}`);
    });
  const onHup = () => {
    try {
      const set = policies.reload();
      void record('ok', { policySetHash: set.hash, count: set.policies.length });
      io.err(`warden: SIGHUP: policies reloaded: ${set.policies.length} polic${set.policies.length === 1 ? 'y' : 'ies'}, set hash ${set.hash.slice(0, 16)}...`);
    } catch (e) {
      // The same reason code as the admin route's failed reload (admin-routes.ts).
      const reason = auditReasonOf(codeOf(e));
      void record('failed', reason ? { reason } : {});
      io.err(`warden: SIGHUP: policies NOT reloaded, the previous set stays in force: ${(e as Error).message}`);
    }
  };
  process.on('SIGHUP', onHup);
  return () => process.removeListener('SIGHUP', onHup);
}
