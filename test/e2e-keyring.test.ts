// Server HPKE keys rotate with an overlap (issue #15 item 4): an image built before a rotation pins the
// old key and names it (serverKeyId); it keeps booting until an operator retires that key, then it is
// refused with a clear code. Real HTTPS, a real SQLite file, and the operator acting through another
// connection to the same database, as `warden admin keys ...` does.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { serverKeyId } from '../src/protocol/sealing.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import type { Engine } from '../src/store/engine.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { ServerKeys } from '../src/store/server-keys.ts';
import { Enclave, makeCerts, request, startWarden, verifyToken, type Certs, type Warden } from './e2e-harness.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-keyring-'));
const dataDir = path.join(tmp, 'data');
const policiesDir = path.join(tmp, 'policies');
const masterKey = crypto.randomBytes(32);
let pki: SimPki;
let certs: Certs;
let w: Warden;
let operatorDb: Engine;
let operator: ServerKeys;
let enclave: Enclave;

interface RingView {
  hpke: { publicKey: string; serverKeyId: string };
  hpkeKeys: Array<{ serverKeyId: string; publicKey: string; current: boolean; createdAt: string }>;
}

const call = (method: string, p: string, body?: unknown) => request(w.url, certs.ca, method, p, body);

async function attest(serverKey?: string) {
  const ch = await call('POST', '/v1/challenge');
  const nonce = Buffer.from(ch.json.nonce as string, 'base64');
  const body: Record<string, unknown> = { nonce: ch.json.nonce, quote: enclave.quoteFor(nonce).toString('base64'), publicKey: enclave.pkE.toString('base64'), secrets: ['disk-key'] };
  if (serverKey !== undefined) body['serverKeyId'] = serverKey;
  return { r: await call('POST', '/v1/attest', body), nonce };
}

before(async () => {
  fs.mkdirSync(policiesDir, { recursive: true });
  fs.writeFileSync(
    path.join(policiesDir, 'app.yaml'),
    ['name: app', 'version: 1', 'match:', `  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}`, '    min_isvsvn: 1', 'secrets:', '  - disk-key', ''].join('\n'),
  );
  [pki, certs] = await Promise.all([SimPki.create(), makeCerts(path.join(tmp, 'certs'))]);
  enclave = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvSvn: 1 });
  w = await startWarden({ dataDir, policiesDir, masterKey, pki, certs });
  await w.secrets.create('disk-key', 'sefs-key');
  operatorDb = await sqliteEngine(path.join(dataDir, 'warden.db'));
  operator = new ServerKeys(operatorDb, masterKey);
});

after(async () => {
  await w?.close();
  await operatorDb?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('an image pinning the old key keeps booting after a rotation, until the key is retired', async () => {
  // The image is built against the key served today.
  const before = (await call('GET', '/v1/server-keys')).json as RingView;
  assert.equal(before.hpkeKeys.length, 1);
  const pinned = Buffer.from(before.hpke.publicKey, 'base64');
  const pinnedId = serverKeyId(pinned);
  assert.equal(before.hpke.serverKeyId, pinnedId);
  assert.match(pinnedId, /^[0-9a-f]{64}$/);
  assert.equal(pinnedId, crypto.createHash('sha256').update(pinned).digest('hex'));

  // The operator rotates: a new current key, the previous one still listed.
  const fresh = await operator.rotateHpke();
  const ring = (await call('GET', '/v1/server-keys')).json as RingView;
  assert.equal(ring.hpke.serverKeyId, fresh.id);
  assert.deepEqual(ring.hpkeKeys.map((k) => [k.serverKeyId, k.current]), [[fresh.id, true], [pinnedId, false]]);
  assert.equal(ring.hpkeKeys[1]!.publicKey, before.hpke.publicKey);

  // The old image names its key: sealed with it, and the token says so.
  const old = await attest(pinnedId);
  assert.equal(old.r.status, 200, old.r.text);
  assert.equal(old.r.json.serverKeyId, pinnedId);
  assert.equal(enclave.open(pinned, old.nonce, old.r.json.secrets[0]).length, 16);
  assert.throws(() => enclave.open(fresh.publicKey, old.nonce, old.r.json.secrets[0]), 'not sealed with the new key');
  const jwks = (await call('GET', '/.well-known/jwks.json')).json;
  const sub = (verifyToken(old.r.json.token as string, jwks).claims['submods'] as Record<string, Record<string, unknown>>)['sgx-enclave']!;
  assert.equal(sub['warden.server_key_id'], pinnedId);

  // A client that names no key (older clients) gets the current key.
  const current = await attest();
  assert.equal(current.r.status, 200, current.r.text);
  assert.equal(current.r.json.serverKeyId, fresh.id);
  assert.equal(enclave.open(fresh.publicKey, current.nonce, current.r.json.secrets[0]).length, 16);

  // Retired: refused with a clear code, listed no more, recorded in the audit trail.
  await operator.retireHpke(pinnedId);
  const refused = await attest(pinnedId);
  assert.equal(refused.r.status, 410, refused.r.text);
  assert.equal(refused.r.json.error.code, 'server_key_retired');
  assert.match(refused.r.json.error.message, /retired/);
  const after = (await call('GET', '/v1/server-keys')).json as RingView;
  assert.deepEqual(after.hpkeKeys.map((k) => k.serverKeyId), [fresh.id]);
  const last = (await w.audit.recent(1, 'attestation'))[0]!;
  assert.equal(last.outcome, 'denied');
  assert.equal(last.data['reason'], 'server_key_retired');
  assert.equal(last.data['serverKeyId'], pinnedId);

  // The new image boots on.
  assert.equal((await attest(fresh.id)).r.status, 200);
});

test('a serverKeyId this server never had: 400 server_key_unknown; a malformed one: 400 bad_request', async () => {
  const unknown = await attest(crypto.randomBytes(32).toString('hex'));
  assert.equal(unknown.r.status, 400, unknown.r.text);
  assert.equal(unknown.r.json.error.code, 'server_key_unknown');
  for (const bad of ['ABC', 'A'.repeat(64), '0'.repeat(63)]) {
    const r = await attest(bad);
    assert.equal(r.r.status, 400, r.r.text);
    assert.equal(r.r.json.error.code, 'bad_request');
  }
});
