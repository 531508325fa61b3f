// Sim TCB Info / QE Identity are Intel's JSON (compact, same key order), signed over the exact text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, statSync, readFileSync as read } from 'node:fs';
import { X509Certificate, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimPki } from '../src/sim/pki.ts';
import { makeCollateral } from '../src/sim/collateral.ts';
import { tcbInfoJson } from '../src/sim/signed-json.ts';
import { DEFAULT_TCB_LEVELS } from '../src/sim/tcb-levels.ts';
import { newP256Key } from '../src/sim/keys.ts';
import { run } from '../src/cli/sim.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';

const fixture = (dir: string) => JSON.parse(readFileSync(sharedPath('fixtures/dcap', dir, 'collateral.json'), 'utf8')) as Record<string, string>;
/** dcap-qvl's QuoteCollateralV3 JSON fields (../shared/fixtures/dcap/README.md), the shape `warden verify` reads. */
const COLLATERAL_JSON_FIELDS = ['pck_crl', 'pck_crl_issuer_chain', 'qe_identity', 'qe_identity_issuer_chain', 'qe_identity_signature', 'root_ca_crl', 'tcb_info', 'tcb_info_issuer_chain', 'tcb_info_signature'];

/** Every key path in document order (array elements merged, first appearance wins), values left out. */
function keyOrder(v: unknown, path = ''): string[] {
  if (Array.isArray(v)) return [...new Set(v.flatMap((x) => keyOrder(x, `${path}[]`)))];
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [`${path}.${k}`, ...keyOrder(x, `${path}.${k}`)]);
  return [];
}

const pki = await SimPki.create();
const signer = () => new X509Certificate(pki.tcbSigning.der).publicKey;
const p1363 = (text: string, sig: Buffer, key = signer()) => verify('sha256', Buffer.from(text), { key, dsaEncoding: 'ieee-p1363' }, sig);

test('TCB Info v3 and QE Identity have Intel\'s key order and compact form', needsShared('fixtures/dcap'), async () => {
  const c = await makeCollateral(pki, { fmspc: '00A067110000' });
  const realV3 = fixture('S1-dcapqvl-sgx-v3');
  assert.deepEqual(keyOrder(JSON.parse(c.tcbInfo)), keyOrder(JSON.parse(realV3['tcb_info']!)));
  assert.deepEqual(keyOrder(JSON.parse(c.qeIdentity)), keyOrder(JSON.parse(realV3['qe_identity']!)));
  assert.equal(c.tcbInfo, JSON.stringify(JSON.parse(c.tcbInfo)), 'compact');
  const real = JSON.parse(realV3['qe_identity']!) as Record<string, unknown>;
  const sim = JSON.parse(c.qeIdentity) as Record<string, unknown>;
  for (const k of ['id', 'version', 'miscselect', 'miscselectMask', 'attributes', 'attributesMask', 'mrsigner', 'isvprodid', 'tcbLevels']) {
    assert.deepEqual(sim[k], real[k], `QE Identity ${k} is Intel's`);
  }
  const t = JSON.parse(c.tcbInfo) as { fmspc: string; tcbLevels: { tcbStatus: string }[]; issueDate: string; nextUpdate: string };
  assert.equal(t.fmspc, '00A067110000');
  assert.deepEqual(t.tcbLevels.map((l) => l.tcbStatus), DEFAULT_TCB_LEVELS.map((l) => l.tcbStatus));
  assert.match(t.issueDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(Date.parse(t.nextUpdate) - Date.parse(t.issueDate), 30 * 86_400_000);
});

test('TCB Info v2 has Intel\'s v2 layout', needsShared('fixtures/dcap'), () => {
  const v2 = tcbInfoJson({ version: 2, fmspc: '00606a000000' });
  assert.deepEqual(keyOrder(JSON.parse(v2)), keyOrder(JSON.parse(fixture('S5b-automata-sgx-v3-tcbinfo-v2')['tcb_info']!)));
});

test('signatures are r||s over the exact text, by TCB Signing unless told otherwise', async () => {
  const c = await makeCollateral(pki);
  assert.equal(c.tcbInfoSignature.length, 64);
  assert.ok(p1363(c.tcbInfo, c.tcbInfoSignature));
  assert.ok(p1363(c.qeIdentity, c.qeIdentitySignature));
  assert.ok(!p1363(c.tcbInfo.replace('"UpToDate"', '"OutOfDate"'), c.tcbInfoSignature));
  const chain = c.tcbInfoIssuerChain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
  assert.deepEqual(chain.map((p) => new X509Certificate(p).subject.split('\n')[0]), ['CN=Intel SGX TCB Signing', 'CN=Intel SGX Root CA']);
  // Arbitrary (tampered) text, and a non-TCB-signing key.
  const text = c.tcbInfo.replace('"tcbType":0', '"tcbType":0 ');
  const other = await makeCollateral(pki, { tcbInfoText: text, qeIdentitySigningKey: pki.processorCa.privateKey });
  assert.equal(other.tcbInfo, text);
  assert.ok(p1363(text, other.tcbInfoSignature));
  assert.ok(!p1363(other.qeIdentity, other.qeIdentitySignature));
  assert.ok(p1363(other.qeIdentity, other.qeIdentitySignature, new X509Certificate(pki.processorCa.der).publicKey));
  assert.ok(!p1363(c.tcbInfo, pki.signJson(c.tcbInfo, newP256Key())));
});

test('everything is settable: dates, levels, eval number, FMSPC, PCE-ID, ids', async () => {
  const c = await makeCollateral(pki, {
    tcbInfo: { issueDate: '2020-01-01T00:00:00Z', nextUpdate: new Date('2020-02-01T00:00:00Z'), tcbEvaluationDataNumber: 3, pceId: 'FFFF', levels: [{ components: [1, 2, 3], pceSvn: 1, tcbDate: '2019-01-01T00:00:00Z', tcbStatus: 'Bogus' }] },
    qeIdentity: { id: 'TD_QE', isvprodid: 2, levels: [{ isvsvn: 1, tcbDate: '2019-01-01T00:00:00Z', tcbStatus: 'Revoked' }] },
  });
  const t = JSON.parse(c.tcbInfo) as Record<string, unknown>;
  assert.equal(t['issueDate'], '2020-01-01T00:00:00Z');
  assert.equal(t['nextUpdate'], '2020-02-01T00:00:00Z');
  assert.equal(t['tcbEvaluationDataNumber'], 3);
  assert.equal(t['pceId'], 'FFFF');
  assert.deepEqual(t['tcbLevels'], [{ tcb: { sgxtcbcomponents: [{ svn: 1 }, { svn: 2 }, { svn: 3 }], pcesvn: 1 }, tcbDate: '2019-01-01T00:00:00Z', tcbStatus: 'Bogus' }]);
  const q = JSON.parse(c.qeIdentity) as Record<string, unknown>;
  assert.equal(q['id'], 'TD_QE');
  assert.equal(q['isvprodid'], 2);
});

test('warden sim init / collateral write the files `warden verify` reads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sim-'));
  try {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    assert.equal(await run(['init', '--out', join(dir, 'pki')], io), 0);
    assert.equal(statSync(join(dir, 'pki', 'pki.json')).mode & 0o777, 0o600);
    await assert.rejects(run(['init', '--out', join(dir, 'pki')], io), { code: 'file_exists' }, 'refuses to overwrite');
    const root = read(join(dir, 'pki', 'root_ca.pem'), 'utf8');
    assert.equal(new X509Certificate(root).subject.split('\n')[0], 'CN=Intel SGX Root CA');
    assert.equal(await run(['collateral', '--pki', join(dir, 'pki'), '--fmspc', '00a067110000', '--ca', 'platform', '--out', join(dir, 'c.json')], io), 0);
    const c = JSON.parse(read(join(dir, 'c.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(c).sort(), COLLATERAL_JSON_FIELDS);
    assert.match(c['pck_crl_issuer_chain']!, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(JSON.parse(c['tcb_info']!).fmspc, '00A067110000');
    await assert.rejects(run(['collateral', '--pki', join(dir, 'pki'), '--fmspc', 'zz', '--out', join(dir, 'x')], io), /--fmspc must be hex/);
    await assert.rejects(run(['bogus'], io), /unknown sub-command/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
