// Two `warden serve` replicas on one PostgreSQL, as an operator runs them behind a load balancer: the
// same master key, policies and trust root, different ports. Challenge on one and attest on the other;
// one nonce raced over both; one replica killed with SIGKILL in a burst; PostgreSQL stopped and started
// again under load. Real processes, a real PostgreSQL cluster, real sockets.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';
import { PostgresEngine } from '../src/store/postgres.ts';
import { AuditLog } from '../src/store/audit.ts';
import { Enclave } from './e2e-harness.ts';
import { pgSkipReason, startPgCluster, type PgCluster } from './helpers/postgres.ts';

const skip = pgSkipReason();
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-replicas-'));
const env = { ...process.env, WARDEN_TEST_MK: crypto.randomBytes(32).toString('hex') };
const MK = ['--master-key-env', 'WARDEN_TEST_MK'];
let cluster: PgCluster;
let db = '';
let pki: SimPki;
let pccs: PccsServer;
let platform: SimPlatform;
const replicas: Replica[] = [];

interface Replica {
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

function warden(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
}

async function startReplica(name: string): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--http', '--host', '127.0.0.1', '--port', '0', '--database', db, '--data', path.join(tmp, name), '--root-ca', 'root.pem', '--pccs', pccs.url, ...MK, '--log-level', 'warn', '--rate-burst', '100000', '--rate-per-second', '100000'],
    { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`replica ${name} did not start: ${err}`)), 90_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /warden listening on (http:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`replica ${name} exited ${code}: ${err}`)));
  });
  const r = { url, child, stderr: () => err };
  replicas.push(r);
  return r;
}

async function call(base: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(p, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** An attest request for a fresh enclave key and the given challenge nonce. */
function attestBody(nonceB64: string, e = new Enclave(platform, { ...SIM_ENCLAVE, isvSvn: 1 })) {
  const nonce = Buffer.from(nonceB64, 'base64');
  return { e, nonce, body: { nonce: nonceB64, quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['app-fs-key'] } };
}

/** One full release: challenge on `a`, attest on `b`. */
async function release(a: Replica, b: Replica): Promise<{ status: number; nonce: string; code?: string }> {
  const c = await call(a.url, 'POST', '/v1/challenge');
  if (c.status !== 200) return { status: c.status, nonce: '', code: c.json?.error?.code };
  const { body } = attestBody(c.json.nonce);
  const r = await call(b.url, 'POST', '/v1/attest', body);
  return { status: r.status, nonce: c.json.nonce, code: r.json?.error?.code };
}

before(async () => {
  if (skip) return;
  cluster = await startPgCluster();
  db = await cluster.createDatabase('warden');
  pki = await SimPki.create();
  pccs = await startPccsServer({ pki });
  platform = await pki.platform({});
  fs.writeFileSync(path.join(tmp, 'root.pem'), pki.rootPem);
  fs.mkdirSync(path.join(tmp, 'policies'));
  fs.writeFileSync(
    path.join(tmp, 'policies', 'app.yaml'),
    `name: app\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 1\nsecrets:\n  - app-fs-key\n`,
  );
  const m = warden(['db', 'migrate', '--database', db]);
  assert.equal(m.status, 0, m.stderr);
  const sec = warden(['secret', 'create', 'app-fs-key', '--kind', 'sefs-key', '--database', db, ...MK]);
  assert.equal(sec.status, 0, sec.stderr);
  await Promise.all([startReplica('a'), startReplica('b')]);
}, { timeout: 300_000 });

after(async () => {
  for (const r of replicas) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGTERM');
      await new Promise((res) => r.child.once('exit', res));
    }
  }
  await pccs?.close();
  cluster?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('challenge on one replica, attest on the other; both report the same policy set', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const [a, b] = replicas as [Replica, Replica];
  const keys = (await call(a.url, 'GET', '/v1/server-keys')).json;
  assert.deepEqual((await call(b.url, 'GET', '/v1/server-keys')).json, keys, 'one keyring for both');
  const c = await call(a.url, 'POST', '/v1/challenge');
  assert.equal(c.status, 200);
  const { e, nonce, body } = attestBody(c.json.nonce);
  const r = await call(b.url, 'POST', '/v1/attest', body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(e.open(Buffer.from(keys.hpke.publicKey, 'base64'), nonce, r.json.secrets[0]).length, 16);
  // The other way round too.
  assert.equal((await release(b, a)).status, 200);
  const ra = (await call(a.url, 'GET', '/readyz')).json;
  const rb = (await call(b.url, 'GET', '/readyz')).json;
  assert.equal(ra.status, 'ok');
  assert.match(ra.policySetHash, /^[0-9a-f]{64}$/);
  assert.equal(ra.policySetHash, rb.policySetHash);
});

test('50 concurrent attests of one nonce spread over both replicas: exactly one succeeds', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const [a, b] = replicas as [Replica, Replica];
  const c = await call(a.url, 'POST', '/v1/challenge');
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => call(i % 2 ? a.url : b.url, 'POST', '/v1/attest', attestBody(c.json.nonce).body)),
  );
  const ok = results.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results.filter((x) => x.status !== 200)) {
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'nonce_used');
  }
});

test('a key rotation made through one replica is used by the other within a bounded time', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const [a, b] = replicas as [Replica, Replica];
  const before = (await call(b.url, 'GET', '/v1/server-keys')).json.hpke.serverKeyId as string;
  const rot = warden(['admin', 'keys', 'rotate', '--hpke', '--database', db, ...MK]);
  assert.equal(rot.status, 0, rot.stderr);
  // Notification (or, if lost, the 1 s re-read): poll until both replicas name the new current key.
  const deadline = Date.now() + 10_000;
  let ids: string[] = [];
  while (Date.now() < deadline) {
    ids = await Promise.all([a, b].map(async (r) => (await call(r.url, 'GET', '/v1/server-keys')).json.hpke.serverKeyId as string));
    if (ids.every((id) => id !== before)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ids.every((id) => id !== before) && ids[0] === ids[1], `both replicas moved to the new key: ${ids.join(', ')}`);
  // An image that pinned the previous key still boots through either replica.
  const c = await call(a.url, 'POST', '/v1/challenge');
  const r = await call(b.url, 'POST', '/v1/attest', { ...attestBody(c.json.nonce).body, serverKeyId: before });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.serverKeyId, before);
});

test('kill -9 of one replica during a burst: nothing acknowledged is lost, the chain verifies, the other keeps serving', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const [a, b] = replicas as [Replica, Replica];
  const acknowledged: string[] = [];
  let stop = false;
  const worker = async (via: Replica) => {
    while (!stop) {
      try {
        const r = await release(via, via);
        if (r.status === 200) acknowledged.push(r.nonce);
      } catch {
        // the killed replica's connections fail: nothing was acknowledged on them
      }
    }
  };
  const workers = [worker(a), worker(a), worker(b), worker(b)];
  while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 10));
  a.child.kill('SIGKILL');
  await new Promise((r) => a.child.once('exit', r));
  const afterKill = acknowledged.length;
  while (acknowledged.length < afterKill + 10) await new Promise((r) => setTimeout(r, 10));
  stop = true;
  await Promise.all(workers);
  // Every acknowledged release has its committed audit entry, across both replicas' appends, in one chain.
  const engine = new PostgresEngine(db);
  try {
    const audit = new AuditLog(engine);
    const v = await audit.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    const rows = await engine.all<{ data: string }>(`SELECT data FROM audit WHERE type = 'attestation' AND outcome = 'allowed'`);
    const audited = new Set(rows.map((r) => (JSON.parse(r.data) as { nonce?: string }).nonce));
    const missing = acknowledged.filter((n) => !audited.has(n));
    assert.deepEqual(missing, [], 'acknowledged releases without an audit entry');
  } finally {
    await engine.close();
  }
  assert.equal((await release(b, b)).status, 200, 'the surviving replica keeps serving');
  replicas[0] = await startReplica('a2');
});

test('PostgreSQL stopped and started during load: 503 store_unavailable while down, success after, no restart', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const [a, b] = replicas as [Replica, Replica];
  assert.equal((await release(a, b)).status, 200);
  cluster.stop();
  try {
    const down = await Promise.all([release(a, b), release(b, a), release(a, a)]);
    for (const r of down) {
      assert.equal(r.status, 503, JSON.stringify(r));
      assert.equal(r.code, 'store_unavailable');
    }
    const ready = await call(a.url, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.checks.database, false);
  } finally {
    cluster.start();
  }
  // Both recover by themselves: the pool reconnects on the next request.
  for (const [x, y] of [[a, b], [b, a]] as const) {
    let r = await release(x, y);
    for (let i = 0; i < 50 && r.status !== 200; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await release(x, y);
    }
    assert.equal(r.status, 200, JSON.stringify(r));
  }
  for (const r of replicas) assert.equal(r.child.exitCode, null, `replica crashed: ${r.stderr()}`);
  assert.equal((await call(a.url, 'GET', '/readyz')).status, 200);
});
