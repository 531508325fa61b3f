// Key release to a TDX trust domain through a real server (issue #17): a TDX policy releases to the TD it names
// through /v1/attest, with the same binding rule as SGX; the token carries a `tdx` submodule; one policy applies to
// one TEE type; debug TDs are refused by default; the audit trail records the TD's measurements.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SIM_TD, makeQuote, type SimPlatform, type TdReportFields } from '../src/sim/index.ts';
import { SimPki } from '../src/sim/pki.ts';
import { Enclave, makeCerts, request, startWarden, verifyToken, type Certs, type Warden } from './e2e-harness.ts';
import { enclaveKeyPair, openSealedSecret, reportDataFor } from './helpers/enclave-side.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-tdx-'));
const policiesDir = path.join(tmp, 'policies');
let certs: Certs;
let w: Warden;
let platform: SimPlatform;
const hex = (b: Buffer) => b.toString('hex');

before(async () => {
  fs.mkdirSync(policiesDir, { recursive: true });
  fs.writeFileSync(
    path.join(policiesDir, 'vm.yaml'),
    ['name: vm', 'version: 1', 'tee: tdx', 'match:', `  - mrtd: ${hex(SIM_TD.mrTd)}`, `    rtmr0: ${hex(SIM_TD.rtmr0)}`, `    rtmr1: ${hex(SIM_TD.rtmr1)}`, `    rtmr2: ${hex(SIM_TD.rtmr2)}`, 'secrets:', '  - vm-disk', ''].join('\n'),
  );
  fs.writeFileSync(
    path.join(policiesDir, 'app.yaml'),
    ['name: app', 'version: 1', 'match:', `  - mrenclave: ${hex(SIM_ENCLAVE.mrEnclave)}`, '    min_isvsvn: 1', 'secrets:', '  - app-key', ''].join('\n'),
  );
  let pki: SimPki;
  [pki, certs] = await Promise.all([SimPki.create(), makeCerts(path.join(tmp, 'certs'))]);
  platform = await pki.platform({});
  w = await startWarden({ dataDir: path.join(tmp, 'data'), policiesDir, masterKey: crypto.randomBytes(32), pki, certs });
  await w.secrets.create('vm-disk', 'sefs-key');
  await w.secrets.create('app-key', 'sefs-key');
});

after(async () => {
  await w?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const call = (method: string, p: string, body?: unknown) => request(w.url, certs.ca, method, p, body);

/** A TD asking for secrets: a TDX quote v4 (or v5 TD 1.5) whose report data binds the nonce and its key. */
async function attestTd(secrets: string[], td: TdReportFields = {}, o: { version?: 4 | 5; reportData?: (nonce: Buffer, pk: Buffer) => Buffer } = {}) {
  const keys = enclaveKeyPair();
  const ch = await call('POST', '/v1/challenge');
  const nonce = Buffer.from(ch.json.nonce as string, 'base64');
  const reportData = (o.reportData ?? reportDataFor)(nonce, keys.publicKey);
  const quote = makeQuote({ platform, version: o.version ?? 4, td: { ...td, reportData } });
  const r = await call('POST', '/v1/attest', { nonce: ch.json.nonce, quote: quote.toString('base64'), publicKey: keys.publicKey.toString('base64'), secrets });
  return { r, keys, nonce };
}

test('a TDX policy releases its secret to the TD it names; the token has a tdx submodule; the audit records the TD', async () => {
  for (const version of [4, 5] as const) {
    const { r, keys, nonce } = await attestTd(['vm-disk'], version === 5 ? { version: '1.5' } : {}, { version });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.policy, 'vm');
    assert.equal(r.json.tcbStatus, 'UpToDate');
    const s = (r.json.secrets as Array<{ name: string; enc: string; ciphertext: string }>)[0]!;
    const serverKeys = (await call('GET', '/v1/server-keys')).json;
    const current = (serverKeys.hpkeKeys as Array<{ serverKeyId: string; publicKey: string }>).find((k) => k.serverKeyId === r.json.serverKeyId)!;
    const value = openSealedSecret({
      recipientPrivateKey: keys.privateKey,
      senderPublicKey: Buffer.from(current.publicKey, 'base64'),
      enc: Buffer.from(s.enc, 'base64'),
      name: s.name,
      nonce,
      ciphertext: Buffer.from(s.ciphertext, 'base64'),
    });
    assert.equal(value.length, 16, 'the SEFS-key secret opens to its 16 bytes');

    const jwks = (await call('GET', '/.well-known/jwks.json')).json;
    const submods = verifyToken(r.json.token as string, jwks).claims['submods'] as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(submods), ['tdx']);
    const tdx = submods['tdx']!['warden.tdx'] as Record<string, unknown>;
    assert.equal(submods['tdx']!['ear.status'], 'affirming');
    assert.equal(tdx['mrtd'], hex(SIM_TD.mrTd));
    assert.equal(tdx['rtmr1'], hex(SIM_TD.rtmr1));
    assert.equal(tdx['tcb_status'], 'UpToDate');
    assert.deepEqual(tdx['tdx_module'], { identity: 'TDX_01', tcb_status: 'UpToDate', tcb_date: '2024-03-13T00:00:00Z', advisory_ids: [] });

    const entry = (await w.audit.recent(1, 'attestation'))[0]!;
    assert.equal(entry.outcome, 'allowed');
    assert.equal(entry.data['tee'], 'TDX');
    assert.equal(entry.data['mrtd'], hex(SIM_TD.mrTd));
  }
});

test('one policy, one TEE type: a TD never gets an SGX policy\'s secret, an enclave never a TDX policy\'s', async () => {
  const { r } = await attestTd(['app-key']);
  assert.equal(r.status, 403, r.text);
  assert.equal((r.json.error as { code: string }).code, 'policy_denied');
  // An SGX enclave whose MRENCLAVE bytes happen to start the TD's MRTD: still not a TD.
  const enclave = new Enclave(platform, { ...SIM_ENCLAVE, isvSvn: 1, mrEnclave: SIM_TD.mrTd.subarray(0, 32) });
  const ch = await call('POST', '/v1/challenge');
  const nonce = Buffer.from(ch.json.nonce as string, 'base64');
  const r2 = await call('POST', '/v1/attest', { nonce: ch.json.nonce, quote: enclave.quoteFor(nonce).toString('base64'), publicKey: enclave.pkE.toString('base64'), secrets: ['vm-disk'] });
  assert.equal(r2.status, 403, r2.text);
  assert.equal((r2.json.error as { code: string }).code, 'policy_denied');
});

test('a TD with other RTMRs, a debug TD, and a TD whose report data does not bind the nonce are refused', async () => {
  const other = await attestTd(['vm-disk'], { rtmr1: Buffer.alloc(48, 9) });
  assert.equal(other.r.status, 403);
  assert.deepEqual((other.r.json.error as { checks?: string[] }).checks, ['identity_not_listed']);
  const debug = await attestTd(['vm-disk'], { debug: true });
  assert.equal(debug.r.status, 403);
  assert.deepEqual((debug.r.json.error as { checks?: string[] }).checks, ['vm/debug']);
  const unbound = await attestTd(['vm-disk'], {}, { reportData: () => Buffer.alloc(64, 1) });
  assert.equal(unbound.r.status, 403);
  assert.equal((unbound.r.json.error as { code: string }).code, 'binding_mismatch');
});
