// SIGHUP reloads the policies (src/cli/serve-policies.ts): a failed reload is audited with the same
// reason code as the admin route's, and an audit write that fails never becomes an unhandled
// rejection (which stops a Node 20 server).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { reloadOnHangup } from '../src/cli/serve-policies.ts';
import { DirectoryPolicySource } from '../src/server/policy-source.ts';
import { AuditLog } from '../src/store/audit.ts';
import { sqliteEngine } from './helpers/engines.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-hup-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const dir = path.join(tmp, 'policies');
fs.mkdirSync(dir);
fs.copyFileSync(path.resolve('policies/payments.yaml'), path.join(dir, 'payments.yaml'));

const lines: string[] = [];
const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
/** Lets the handler's audit writes settle: committed or failed, and their handlers run. */
const settle = async (audit: AuditLog) => {
  await audit.flushed();
  await new Promise((r) => setImmediate(r));
};

test('a broken set on SIGHUP: the old set stays, the audit entry carries policy_load_failed', async () => {
  const db = await sqliteEngine();
  const audit = new AuditLog(db);
  const policies = new DirectoryPolicySource(dir);
  const before = policies.current().hash;
  const stop = reloadOnHangup(policies, audit, io);
  fs.writeFileSync(path.join(dir, 'zz-broken.yaml'), 'name: broken\n');
  try {
    process.emit('SIGHUP', 'SIGHUP');
    await settle(audit);
  } finally {
    stop();
    fs.rmSync(path.join(dir, 'zz-broken.yaml'));
  }
  assert.equal(policies.current().hash, before);
  const [entry] = await audit.recent(1, 'admin');
  assert.equal(entry!.actor, 'signal:SIGHUP');
  assert.equal(entry!.outcome, 'failed');
  assert.deepEqual(entry!.data, { action: 'policies.reload', reason: 'policy_load_failed' });
  await db.close();
});

test('an audit write that fails on SIGHUP is said on stderr, never an unhandled rejection', async () => {
  const db = await sqliteEngine();
  const audit = new AuditLog(db);
  const policies = new DirectoryPolicySource(dir);
  await db.close(); // the database is gone: every append rejects
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  const stop = reloadOnHangup(policies, audit, io);
  lines.length = 0;
  try {
    process.emit('SIGHUP', 'SIGHUP'); // a good set
    fs.writeFileSync(path.join(dir, 'zz-broken.yaml'), 'name: broken\n');
    process.emit('SIGHUP', 'SIGHUP'); // a broken one
    await settle(audit);
  } finally {
    stop();
    process.removeListener('unhandledRejection', onUnhandled);
    fs.rmSync(path.join(dir, 'zz-broken.yaml'), { force: true });
  }
  assert.deepEqual(unhandled, []);
  assert.equal(lines.filter((l) => /SIGHUP: the audit entry of this reload was not written/.test(l)).length, 2, lines.join('\n'));
  assert.ok(lines.some((l) => /SIGHUP: policies reloaded/.test(l)));
  assert.ok(lines.some((l) => /SIGHUP: policies NOT reloaded/.test(l)));
});
