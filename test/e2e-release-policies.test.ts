// One request, secrets released by two policies (issue #14 finding 5): the response, the token and the
// audit entry name, for each released secret, the policy and the policy version that released it, and
// keep the policy-set hash. Before, all three named only one of the two policies.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import { Enclave, makeCerts, request, startWarden, verifyToken, type Certs, type Warden } from './e2e-harness.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-release-policies-'));
const policiesDir = path.join(tmp, 'policies');
let certs: Certs;
let w: Warden;
let enclave: Enclave;

before(async () => {
  fs.mkdirSync(policiesDir, { recursive: true });
  fs.writeFileSync(
    path.join(policiesDir, 'simapp.yaml'),
    ['name: simapp', 'version: 3', 'match:', `  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}`, '    min_isvsvn: 1', 'secrets:', '  - app-key', ''].join('\n'),
  );
  fs.writeFileSync(
    path.join(policiesDir, 'other.yaml'),
    ['name: other', 'version: "2024-06"', 'match:', `  - mrsigner: ${SIM_ENCLAVE.mrSigner.toString('hex')}`, '    isvprodid: 7', '    min_isvsvn: 1', 'secrets:', '  - authprobe', ''].join('\n'),
  );
  let pki: SimPki;
  [pki, certs] = await Promise.all([SimPki.create(), makeCerts(path.join(tmp, 'certs'))]);
  enclave = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvProdId: 7, isvSvn: 1 });
  w = await startWarden({ dataDir: path.join(tmp, 'data'), policiesDir, masterKey: crypto.randomBytes(32), pki, certs });
  await w.secrets.create('app-key', 'sefs-key');
  await w.secrets.create('authprobe', 'bytes');
});

after(async () => {
  await w?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('each released secret names the policy and version that released it: response, token, audit', async () => {
  const call = (method: string, p: string, body?: unknown) => request(w.url, certs.ca, method, p, body);
  const ch = await call('POST', '/v1/challenge');
  const nonce = Buffer.from(ch.json.nonce as string, 'base64');
  const r = await call('POST', '/v1/attest', {
    nonce: ch.json.nonce,
    quote: enclave.quoteFor(nonce).toString('base64'),
    publicKey: enclave.pkE.toString('base64'),
    secrets: ['authprobe', 'app-key'],
  });
  assert.equal(r.status, 200, r.text);
  const expected = [
    { name: 'authprobe', version: 1, policy: 'other', policyVersion: '2024-06' },
    { name: 'app-key', version: 1, policy: 'simapp', policyVersion: 3 },
  ];
  assert.deepEqual(
    (r.json.secrets as Array<Record<string, unknown>>).map(({ name, version, policy, policyVersion }) => ({ name, version, policy, policyVersion })),
    expected,
  );
  assert.deepEqual(r.json.policies, [{ name: 'other', version: '2024-06' }, { name: 'simapp', version: 3 }]);

  const jwks = (await call('GET', '/.well-known/jwks.json')).json;
  const sub = (verifyToken(r.json.token as string, jwks).claims['submods'] as Record<string, Record<string, unknown>>)['sgx-enclave']!;
  assert.deepEqual(sub['warden.secrets'], expected.map((e) => ({ name: e.name, version: e.version, policy: e.policy, policy_version: e.policyVersion })));
  assert.deepEqual(sub['warden.policies'], r.json.policies);
  assert.equal(sub['warden.policy'], undefined, 'no single policy claims a release two policies made');
  const policySetHash = (await request(w.url, certs.ca, 'GET', '/v1/admin/policies', undefined, { authorization: `Bearer ${(await w.tokens.create('auditor')).token}` })).json.policySetHash;
  assert.equal(sub['warden.policy_set_hash'], policySetHash);

  const entry = (await w.audit.recent(1, 'attestation'))[0]!;
  assert.equal(entry.outcome, 'allowed');
  assert.deepEqual(entry.data['released'], expected);
  assert.deepEqual(entry.data['policies'], r.json.policies);
  assert.equal(entry.data['policySetHash'], policySetHash);
});
