import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fetchCollateralForQuote } from '../src/collateral/fetch.ts';
import { CollateralUnavailableError, SourceError } from '../src/collateral/errors.ts';
import { PcsSource, normaliseBaseUrl } from '../src/collateral/pcs-client.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { INTEL_ROOT_ANCHOR } from '../src/collateral/validate.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { loadFixtures } from './helpers/fixtures.ts';
import { describeShared } from './helpers/shared.ts';
import { DAY, makeWorld, pccs, recordingLogger } from './collateral-helpers.ts';

type Handler = (url: URL) => { status: number; headers?: Record<string, string>; body: Buffer | string };

const servers: (http.Server | https.Server)[] = [];

/** A real HTTP server answering with `handler`, recording the URLs asked. */
async function serve(handler: Handler): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    asked.push(u.pathname + u.search);
    const r = handler(u);
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    res.writeHead(r.status, { 'Content-Length': String(body.length), ...r.headers });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked };
}

after(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
});

interface FixtureCollateral {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

/** Answers like Intel PCS / PCCS v4 with a fixture's real Intel collateral. */
function intelLike(c: FixtureCollateral): Handler {
  const fmspc = (JSON.parse(c.tcb_info) as { fmspc: string }).fmspc;
  const caCn = /Platform/.test(new X509Certificate(c.pck_crl_issuer_chain).subject) ? 'platform' : 'processor';
  return (u): ReturnType<Handler> => {
    switch (u.pathname) {
      case '/sgx/certification/v4/tcb':
        if (u.searchParams.get('fmspc')?.toLowerCase() !== fmspc.toLowerCase()) return { status: 404, body: '' };
        return { status: 200, headers: { 'Content-Type': 'application/json', 'TCB-Info-Issuer-Chain': encodeURIComponent(c.tcb_info_issuer_chain) }, body: `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}` };
      case '/sgx/certification/v4/qe/identity':
        return { status: 200, headers: { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(c.qe_identity_issuer_chain) }, body: `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}` };
      case '/sgx/certification/v4/pckcrl':
        if (u.searchParams.get('ca') !== caCn || u.searchParams.get('encoding') !== 'der') return { status: 404, body: '' };
        return { status: 200, headers: { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(c.pck_crl_issuer_chain) }, body: Buffer.from(c.pck_crl, 'hex') };
      case '/sgx/certification/v4/rootcacrl':
        return { status: 200, body: c.root_ca_crl };
      default:
        return { status: 404, body: 'not found' };
    }
  };
}

describeShared('fixtures/dcap', 'collateral client against real Intel collateral', () => {
  for (const f of loadFixtures().filter((f) => f.expected.ok && f.name.includes('sgx'))) {
    it(`${f.name}: fetched collateral verifies the quote as Intel's would`, async () => {
      const c = JSON.parse(f.collateralText) as FixtureCollateral;
      const s = await serve(intelLike(c));
      const at = new Date(f.expected.at);
      const col = await fetchCollateralForQuote(f.quote, [`${s.url}/sgx/certification/v4/`], { at, trustedRoot: f.rootPem });
      assert.equal(col.tcbInfo, c.tcb_info, 'the signed text is kept byte for byte');
      const v = verifyQuote(f.quote, col, { at, trustedRoot: f.rootPem });
      assert.equal(v.status, f.expected.status);
      assert.deepEqual(v.advisoryIds, f.expected.advisoryIds);
      assert.ok(s.asked.some((a) => /fmspc=[0-9A-F]{12}$/.test(a)), 'FMSPC asked in upper-case hex, as Intel documents');
    });
  }

  it('with only expired collateral to be had, the verdict is collateral_expired, as with a file', async () => {
    const f = loadFixtures().find((x) => x.name.startsWith('S1'))!;
    const s = await serve(intelLike(JSON.parse(f.collateralText) as FixtureCollateral));
    const later = new Date(new Date(f.expected.at).getTime() + 60 * 86_400_000);
    const col = await fetchCollateralForQuote(f.quote, [s.url], { at: later });
    assert.throws(() => verifyQuote(f.quote, col, { at: later, trustedRoot: f.rootPem }), (e: unknown) => (e as { code?: string }).code === 'collateral_expired');
  });

  it('pins the Intel root by default for the cache path', async () => {
    const f = loadFixtures().find((x) => x.name.startsWith('S1'))!;
    const s = await serve(intelLike(JSON.parse(f.collateralText) as FixtureCollateral));
    const item = await new SourceSet([s.url]).fetchItem({ kind: 'qe_identity', key: '' }, INTEL_ROOT_ANCHOR, new Date(f.expected.at), () => new Date());
    assert.equal(item.kind, 'qe_identity');
  });
});

describe('PCS client HTTP behaviour', () => {
  it('honours 429 Retry-After, then succeeds', async () => {
    let n = 0;
    const s = await serve(() => (n++ === 0 ? { status: 429, headers: { 'Retry-After': '0' }, body: 'slow down' } : { status: 200, body: 'ok' }));
    const got = await new PcsSource(s.url, { retries: 2, backoffMs: 1 }).fetch({ kind: 'qe_identity', key: '' });
    assert.equal(got.raw.toString(), 'ok');
    assert.equal(s.asked.length, 2);
  });

  it('moves on when Retry-After is longer than it is willing to wait', async () => {
    const s = await serve(() => ({ status: 429, headers: { 'Retry-After': '3600' }, body: '' }));
    await assert.rejects(new PcsSource(s.url, { retries: 2 }).fetch({ kind: 'qe_identity', key: '' }), (e: unknown) => e instanceof SourceError && e.code === 'http_status');
    assert.equal(s.asked.length, 1);
  });

  it('retries 5xx a bounded number of times, and does not retry a 404', async () => {
    const bad = await serve(() => ({ status: 500, body: 'oops' }));
    await assert.rejects(new PcsSource(bad.url, { retries: 2, backoffMs: 1 }).fetch({ kind: 'qe_identity', key: '' }));
    assert.equal(bad.asked.length, 3);
    const missing = await serve(() => ({ status: 404, body: '' }));
    await assert.rejects(new PcsSource(missing.url, { retries: 2, backoffMs: 1 }).fetch({ kind: 'tcb_info', key: '00a067110000' }), /404/);
    assert.equal(missing.asked.length, 1);
  });

  it('refuses an oversized body and a badly encoded issuer chain header', async () => {
    const big = await serve(() => ({ status: 200, body: Buffer.alloc(2048, 0x41) }));
    await assert.rejects(new PcsSource(big.url, { maxBytes: 1024 }).fetch({ kind: 'qe_identity', key: '' }), (e: unknown) => e instanceof SourceError && e.code === 'too_large');
    const badHeader = await serve(() => ({ status: 200, headers: { 'SGX-Enclave-Identity-Issuer-Chain': '%E0%A4%A' }, body: '{}' }));
    await assert.rejects(new PcsSource(badHeader.url).fetch({ kind: 'qe_identity', key: '' }), (e: unknown) => e instanceof SourceError && e.code === 'malformed');
  });

  it('reads issuer chains percent-encoded as Intel sends them, with CRLF lines, or form-encoded (spaces as +)', async () => {
    const w = await makeWorld();
    const s = await pccs(w);
    try {
      const real = await new PcsSource(s.url).fetch({ kind: 'qe_identity', key: '' });
      assert.match(real.issuerChain, /^-----BEGIN CERTIFICATE-----\n/);
      const variants = {
        form: encodeURIComponent(real.issuerChain).replace(/%20/g, '+'),
        crlf: encodeURIComponent(real.issuerChain.replace(/\n/g, '\r\n')),
      };
      for (const [how, header] of Object.entries(variants)) {
        const other = await serve(() => ({ status: 200, headers: { 'SGX-Enclave-Identity-Issuer-Chain': header }, body: real.raw }));
        const set = new SourceSet([other.url]);
        const item = await set.fetchItem({ kind: 'qe_identity', key: '' }, w.anchor, new Date(), () => new Date());
        assert.equal(item.raw.toString(), real.raw.toString(), how);
      }
    } finally {
      await s.close();
      fs.rmSync(w.dir, { recursive: true, force: true });
    }
  });

  it('logs each skipped source with its reason and lists them all when none is left', async () => {
    const a = await serve(() => ({ status: 200, headers: { 'Content-Type': 'text/html' }, body: '<html>login</html>' }));
    const b = await serve(() => ({ status: 503, body: '' }));
    const log = recordingLogger();
    const set = new SourceSet([a.url, b.url], { retries: 0 }, log);
    await assert.rejects(set.fetchItem({ kind: 'qe_identity', key: '' }, INTEL_ROOT_ANCHOR, undefined, () => new Date()), (e: unknown) => {
      const reasons = (e as { reasons: string[] }).reasons;
      assert.equal(reasons.length, 2);
      assert.match(reasons[0]!, /malformed/);
      assert.match(reasons[1]!, /HTTP 503/);
      return true;
    });
    assert.deepEqual(log.lines.map((l) => l.fields.reason), ['malformed_collateral', 'http_status']);
  });

  it('normalises base URLs and uses Intel\'s own root CA CRL location for Intel PCS', () => {
    assert.equal(normaliseBaseUrl('https://pccs.local:8081/sgx/certification/v4/'), 'https://pccs.local:8081');
    assert.equal(normaliseBaseUrl('https://pccs.local:8081/'), 'https://pccs.local:8081');
    assert.throws(() => normaliseBaseUrl('ftp://x'));
    assert.equal(new PcsSource('https://api.trustedservices.intel.com').urlFor({ kind: 'root_ca_crl', key: '' }), 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der');
    assert.equal(new PcsSource('https://pccs.local:8081').urlFor({ kind: 'root_ca_crl', key: '' }), 'https://pccs.local:8081/sgx/certification/v4/rootcacrl');
    assert.equal(new PcsSource('https://pccs.local:8081').urlFor({ kind: 'pck_crl', key: 'platform' }), 'https://pccs.local:8081/sgx/certification/v4/pckcrl?ca=platform&encoding=der');
  });
});

describe('PCS client over TLS', () => {
  it('trusts a local PCCS\'s own CA only when given it (--pccs-ca), on top of the system roots', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-coll-tls-'));
    try {
      const certs = await createDevCerts(dir, ['127.0.0.1']);
      const server = https.createServer({ cert: fs.readFileSync(certs.serverCert), key: fs.readFileSync(certs.serverKey) }, (_req, res) => res.end('ok'));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const id = { kind: 'qe_identity', key: '' } as const;
      await assert.rejects(new PcsSource(url, { retries: 0 }).fetch(id), (e: unknown) => e instanceof SourceError && e.code === 'network');
      const got = await new PcsSource(url, { ca: [fs.readFileSync(certs.caCert, 'utf8')] }).fetch(id);
      assert.equal(got.raw.toString(), 'ok');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fetchCollateralForQuote with several sources', () => {
  it('prefers a source with valid collateral over one serving expired collateral', async () => {
    const w = await makeWorld();
    const stale = await pccs(w, { collateral: { at: new Date(Date.now() - 45 * DAY) } });
    const fresh = await pccs(w);
    try {
      const now = new Date();
      const col = await fetchCollateralForQuote(w.quote, [stale.url, fresh.url], { at: now, timeoutMs: 2000, trustedRoot: w.pki.rootPem });
      assert.equal(verifyQuote(w.quote, col, { at: now, trustedRoot: w.pki.rootPem }).fmspc, w.fmspc);
      assert.ok(stale.requests.length > 0 && fresh.requests.length > 0);
      // A source for another PKI is skipped: collateral must chain to the pinned root.
      const other = await makeWorld();
      const foreign = await pccs(other);
      try {
        const col2 = await fetchCollateralForQuote(w.quote, [foreign.url, fresh.url], { at: now, trustedRoot: w.pki.rootPem });
        assert.equal(verifyQuote(w.quote, col2, { at: now, trustedRoot: w.pki.rootPem }).fmspc, w.fmspc);
      } finally {
        await foreign.close();
        fs.rmSync(other.dir, { recursive: true, force: true });
      }
    } finally {
      await stale.close();
      await fresh.close();
      fs.rmSync(w.dir, { recursive: true, force: true });
    }
  });
});
