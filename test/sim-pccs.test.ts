// The sim PCCS over real HTTP: Intel's PCS API v4 paths, headers and bodies, and its failure modes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, verify } from 'node:crypto';
import { SimPki } from '../src/sim/pki.ts';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';

let pki: SimPki;
let pccs: PccsServer;
before(async () => {
  pki = await SimPki.create();
  pccs = await startPccsServer({ pki, port: 0 });
});
after(async () => {
  await pccs.close();
});

const get = (path: string, init?: RequestInit) => fetch(pccs.url + path, init);
const chainSubjects = (header: string | null) =>
  (decodeURIComponent(header ?? '').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? []).map((p) => new X509Certificate(p).subject.split('\n')[0]);
/** The signed member of a PCS body, sliced out as served (never re-serialised). */
const signedPart = (body: string, member: string) => body.slice(`{"${member}":`.length, body.lastIndexOf(',"signature":"'));
const sigOk = (text: string, hex: string) =>
  verify('sha256', Buffer.from(text), { key: new X509Certificate(pki.tcbSigning.der).publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(hex, 'hex'));

test('TCB Info: issuer chain header, compact body, signature over the served bytes', async () => {
  const r = await get('/sgx/certification/v4/tcb?fmspc=00906ED50000');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('request-id') ?? '', /^[0-9a-f]{32}$/);
  assert.deepEqual(chainSubjects(r.headers.get('tcb-info-issuer-chain')), ['CN=Intel SGX TCB Signing', 'CN=Intel SGX Root CA']);
  const body = await r.text();
  const parsed = JSON.parse(body) as { tcbInfo: { fmspc: string; version: number }; signature: string };
  assert.equal(parsed.tcbInfo.fmspc, '00906ED50000');
  assert.equal(parsed.tcbInfo.version, 3);
  assert.ok(sigOk(signedPart(body, 'tcbInfo'), parsed.signature));
  // API v3: TCB Info v2 under the v3 header name.
  const v3 = await get('/sgx/certification/v3/tcb?fmspc=00906ed50000');
  assert.equal(v3.status, 200);
  assert.ok(v3.headers.get('sgx-tcb-info-issuer-chain'));
  assert.equal((JSON.parse(await v3.text()) as { tcbInfo: { version: number } }).tcbInfo.version, 2);
});

test('QE Identity, PCK CRLs (DER and PEM) and the root CA CRL (hex text)', async () => {
  const qe = await get('/sgx/certification/v4/qe/identity');
  const body = await qe.text();
  assert.deepEqual(chainSubjects(qe.headers.get('sgx-enclave-identity-issuer-chain')), ['CN=Intel SGX TCB Signing', 'CN=Intel SGX Root CA']);
  assert.ok(sigOk(signedPart(body, 'enclaveIdentity'), (JSON.parse(body) as { signature: string }).signature));
  for (const ca of ['processor', 'platform'] as const) {
    const der = await get(`/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`);
    assert.equal(der.status, 200);
    assert.deepEqual(chainSubjects(der.headers.get('sgx-pck-crl-issuer-chain')), [`CN=Intel SGX PCK ${ca === 'processor' ? 'Processor' : 'Platform'} CA`, 'CN=Intel SGX Root CA']);
    const bytes = Buffer.from(await der.arrayBuffer());
    assert.equal(bytes[0], 0x30);
    assert.ok(bytes.includes(Buffer.from(`Intel SGX PCK ${ca === 'processor' ? 'Processor' : 'Platform'} CA`)));
    const pem = await (await get(`/sgx/certification/v4/pckcrl?ca=${ca}`)).text();
    assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
  }
  const root = await (await get('/sgx/certification/v4/rootcacrl')).text();
  assert.match(root, /^30[0-9a-f]+$/);
  assert.ok(Buffer.from(root, 'hex').includes(Buffer.from('Intel SGX Root CA')));
});

test('bad parameters give 400, unknown paths and unknown FMSPCs 404', async () => {
  for (const path of ['/sgx/certification/v4/tcb', '/sgx/certification/v4/tcb?fmspc=xyz', '/sgx/certification/v4/pckcrl?ca=other', '/sgx/certification/v4/pckcrl?ca=processor&encoding=base64', '/sgx/certification/v4/tcb?fmspc=00906ED50000&update=early&tcbEvaluationDataNumber=17']) {
    const r = await get(path);
    assert.equal(r.status, 400, path);
    await r.text();
  }
  assert.equal((await get('/sgx/certification/v4/nothing')).status, 404);
  pccs.setKnownFmspcs(['00906ED50000']);
  try {
    assert.equal((await get('/sgx/certification/v4/tcb?fmspc=00A067110000')).status, 404);
    assert.equal((await get('/sgx/certification/v4/tcb?fmspc=00906ed50000')).status, 200);
  } finally {
    pccs.setKnownFmspcs(undefined);
  }
  assert.ok(pccs.requests.some((r) => r.status === 404 && r.url.includes('00A067110000')));
});

test('failure modes switch at run time', async (t) => {
  t.after(() => pccs.setFailure('none'));
  pccs.setFailure('5xx');
  assert.equal((await get('/sgx/certification/v4/qe/identity')).status, 503);
  pccs.setFailure('html');
  const html = await get('/sgx/certification/v4/qe/identity');
  assert.match(html.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await html.text(), /<html>/);
  pccs.setFailure('badsig');
  const bad = await (await get('/sgx/certification/v4/tcb?fmspc=00906ED50000')).text();
  assert.ok(!sigOk(signedPart(bad, 'tcbInfo'), (JSON.parse(bad) as { signature: string }).signature));
  pccs.setFailure('wrongfmspc');
  const wrong = JSON.parse(await (await get('/sgx/certification/v4/tcb?fmspc=00906ED50000')).text()) as { tcbInfo: { fmspc: string } };
  assert.notEqual(wrong.tcbInfo.fmspc.toLowerCase(), '00906ed50000');
  pccs.setFailure('truncated');
  const tr = await get('/sgx/certification/v4/tcb?fmspc=00906ED50000');
  await assert.rejects(tr.text());
  pccs.setFailure('timeout');
  await assert.rejects(get('/sgx/certification/v4/qe/identity', { signal: AbortSignal.timeout(300) }), /abort|timeout/i);
  pccs.setFailure('none');
  assert.equal((await get('/sgx/certification/v4/qe/identity')).status, 200);
});
