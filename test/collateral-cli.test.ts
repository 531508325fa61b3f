import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { main } from '../src/cli/main.ts';
import type { Io } from '../src/cli/io.ts';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import { makeCollateral } from '../src/sim/collateral.ts';
import type { PccsServer } from '../src/sim/pccs-server.ts';
import { makeWorld, pccs, type World } from './collateral-helpers.ts';

let w: World;
let s: PccsServer;
let rootFile: string;

async function warden(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await main(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

before(async () => {
  w = await makeWorld();
  s = await pccs(w);
  rootFile = path.join(w.dir, 'root.pem');
  fs.writeFileSync(rootFile, w.pki.rootPem);
});

after(async () => {
  await s.close();
  fs.rmSync(w.dir, { recursive: true, force: true });
});

describe('warden collateral', () => {
  it('fetch fills the cache, status lists it, export/import round-trips it to another site', async () => {
    const site = path.join(w.dir, 'online');
    const f = await warden('collateral', 'fetch', '--data', site, '--root-ca', rootFile, '--fmspc', w.fmspc.toUpperCase(), '--pccs', s.url);
    assert.equal(f.code, 0, f.err);
    assert.match(f.out, /stored TCB Info for FMSPC/);
    assert.match(f.out, /PCK CRL \(processor CA\)/);
    assert.match(f.out, /PCK CRL \(platform CA\)/);

    const st = await warden('collateral', 'status', '--data', site, '--json');
    assert.equal(st.code, 0, st.err);
    const status = JSON.parse(st.out) as { items: { kind: string; key: string; state: string; nextUpdate: string }[] };
    assert.equal(status.items.length, 5);
    assert.ok(status.items.every((i) => i.state === 'valid'));
    // A margin longer than the 30-day window marks the monthly items as due.
    const due = JSON.parse((await warden('collateral', 'status', '--data', site, '--json', '--margin-hours', '800')).out) as typeof status;
    assert.deepEqual(due.items.filter((i) => i.state === 'refresh-due').map((i) => i.kind).sort(), ['pck_crl', 'pck_crl', 'qe_identity', 'tcb_info']);
    const human = await warden('collateral', 'status', '--data', site, '--margin-hours', '800');
    assert.match(human.out, /^! TCB Info/m);

    const bundle = path.join(w.dir, 'bundle.json');
    const ex = await warden('collateral', 'export', '--data', site, '--out', bundle);
    assert.equal(ex.code, 0, ex.err);

    const gapped = path.join(w.dir, 'airgapped');
    const im = await warden('collateral', 'import', bundle, '--data', gapped, '--root-ca', rootFile);
    assert.equal(im.code, 0, im.err);
    assert.match(im.out, /imported 5 item/);
    const a = await StoreCollateralCache.open(path.join(site, 'warden.db'));
    const b = await StoreCollateralCache.open(path.join(gapped, 'warden.db'));
    try {
      assert.deepEqual(
        (await b.list()).map((i) => ({ ...i, fetchedAt: 0 })),
        (await a.list()).map((i) => ({ ...i, fetchedAt: 0 })),
      );
      const bl = await b.list();
      for (const [x, y] of (await a.list()).map((it, i) => [it, bl[i]!] as const)) assert.equal(x.fetchedAt.getTime(), y.fetchedAt.getTime());
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses a tampered bundle whole, with the reason, and stores nothing', async () => {
    const site = path.join(w.dir, 'online2');
    assert.equal((await warden('collateral', 'fetch', '--data', site, '--root-ca', rootFile, '--fmspc', w.fmspc, '--ca', 'processor', '--pccs', s.url)).code, 0);
    const bundleFile = path.join(w.dir, 'bundle2.json');
    assert.equal((await warden('collateral', 'export', '--data', site, '--out', bundleFile)).code, 0);
    const bundle = JSON.parse(fs.readFileSync(bundleFile, 'utf8')) as { items: { kind: string; raw: string }[] };

    // Raise a TCB level's status in the signed TCB Info: the signature no longer verifies.
    const tcb = bundle.items.find((i) => i.kind === 'tcb_info')!;
    const text = Buffer.from(tcb.raw, 'base64').toString('utf8');
    const forged = text.replace(/"OutOfDate"/, '"UpToDate"');
    assert.notEqual(forged, text);
    tcb.raw = Buffer.from(forged).toString('base64');
    const tampered = path.join(w.dir, 'tampered.json');
    fs.writeFileSync(tampered, JSON.stringify(bundle));

    const gapped = path.join(w.dir, 'airgapped2');
    const im = await warden('collateral', 'import', tampered, '--data', gapped, '--root-ca', rootFile);
    assert.equal(im.code, 1);
    assert.match(im.err, /bundle refused: item \d+ refused, nothing imported: signature_invalid: TCB Info for FMSPC/);
    const c = await StoreCollateralCache.open(path.join(gapped, 'warden.db'));
    try {
      assert.equal((await c.list()).length, 0);
    } finally {
      await c.close();
    }

    // The untouched bundle against another root is refused too.
    const other = await makeWorld();
    const otherRoot = path.join(w.dir, 'other-root.pem');
    fs.writeFileSync(otherRoot, other.pki.rootPem);
    fs.rmSync(other.dir, { recursive: true, force: true });
    const foreign = await warden('collateral', 'import', bundleFile, '--data', gapped, '--root-ca', otherRoot);
    assert.equal(foreign.code, 1);
    assert.match(foreign.err, /untrusted_root/);
  });

  it('gives usage errors for bad calls', async () => {
    assert.equal((await warden('collateral', 'fetch', '--fmspc', 'xyz', '--pccs', s.url)).code, 2);
    assert.equal((await warden('collateral', 'fetch', '--fmspc', w.fmspc)).code, 2);
    assert.equal((await warden('collateral', 'fetch', '--fmspc', w.fmspc, '--ca', 'both', '--pccs', s.url)).code, 2);
    assert.equal((await warden('collateral', 'import')).code, 2);
    assert.equal((await warden('collateral', 'frobnicate')).code, 2);
    const missing = await warden('collateral', 'import', path.join(w.dir, 'nope.json'), '--data', path.join(w.dir, 'x'));
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no such file/);
  });

  it('fetch fails with collateral_unavailable when no source answers', async () => {
    const down = await pccs(w, { fail: '5xx' });
    try {
      const r = await warden('collateral', 'fetch', '--data', path.join(w.dir, 'down'), '--root-ca', rootFile, '--fmspc', w.fmspc, '--ca', 'processor', '--pccs', down.url, '--timeout', '2000');
      assert.equal(r.code, 1);
      assert.match(r.err, /collateral_unavailable: no valid TCB Info for FMSPC [0-9a-f]{12}: .*HTTP 503/);
    } finally {
      await down.close();
    }
  });
});

describe('warden verify --pccs', () => {
  it('gives the same verdict as --collateral on the same quote', async () => {
    const quoteFile = path.join(w.dir, 'quote.bin');
    fs.writeFileSync(quoteFile, w.quote);
    const collFile = path.join(w.dir, 'collateral.json');
    const platform = await w.pki.platform({ ca: 'processor' });
    fs.writeFileSync(collFile, JSON.stringify(collateralToJson(await makeCollateral(w.pki, { platform }))));
    const viaFile = await warden('verify', '--quote', quoteFile, '--collateral', collFile, '--root-ca', rootFile, '--json');
    const viaPccs = await warden('verify', '--quote', quoteFile, '--pccs', s.url, '--root-ca', rootFile, '--json');
    assert.equal(viaFile.code, 0, viaFile.out + viaFile.err);
    assert.equal(viaPccs.code, viaFile.code, viaPccs.out + viaPccs.err);
    const a = JSON.parse(viaFile.out) as Record<string, unknown>;
    const b = JSON.parse(viaPccs.out) as Record<string, unknown>;
    assert.equal(b.ok, true);
    for (const k of ['ok', 'status', 'advisoryIds', 'tcbDate', 'report', 'error']) assert.deepEqual(b[k], a[k], k);
  });

  it('a PCCS with nothing valid gives collateral_unavailable', async () => {
    const quoteFile = path.join(w.dir, 'quote2.bin');
    fs.writeFileSync(quoteFile, w.quote);
    const down = await pccs(w, { fail: 'html' });
    try {
      const r = await warden('verify', '--quote', quoteFile, '--pccs', down.url, '--root-ca', rootFile, '--json');
      assert.equal(r.code, 1);
      const j = JSON.parse(r.out) as { ok: boolean; error: { code: string; message: string } };
      assert.equal(j.error.code, 'collateral_unavailable');
      assert.match(j.error.message, /FMSPC/);
    } finally {
      await down.close();
    }
  });
});

/**
 * A PCCS written from Intel's API description alone (not src/sim): the v4 paths, URL-encoded issuer
 * chains in Intel's header names, the signed JSON as `{"tcbInfo":…,"signature":…}`, and each CRL in
 * the representation under test (Intel's PCCS answers hex text unless `encoding=der`; PCS answers PEM or DER).
 */
async function independentPccs(c: Record<string, string>, crl: { pck: 'hex' | 'pem' | 'der'; root: 'hex' | 'der' | 'pem' }) {
  const pem = (der: Buffer) => `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
  const body = (der: Buffer, how: 'hex' | 'pem' | 'der') => (how === 'der' ? der : how === 'pem' ? pem(der) : der.toString('hex'));
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const p = u.pathname;
    if (p === '/sgx/certification/v4/tcb' && u.searchParams.get('fmspc')?.toLowerCase() === c['fmspc']) {
      res.setHeader('TCB-Info-Issuer-Chain', encodeURIComponent(c['tcb_info_issuer_chain'] ?? ''));
      res.end(`{"tcbInfo":${c['tcb_info']},"signature":"${c['tcb_info_signature']}"}`);
    } else if (p === '/sgx/certification/v4/qe/identity') {
      res.setHeader('SGX-Enclave-Identity-Issuer-Chain', encodeURIComponent(c['qe_identity_issuer_chain'] ?? ''));
      res.end(`{"enclaveIdentity":${c['qe_identity']},"signature":"${c['qe_identity_signature']}"}`);
    } else if (p === '/sgx/certification/v4/pckcrl' && u.searchParams.get('ca') === 'processor') {
      res.setHeader('SGX-PCK-CRL-Issuer-Chain', encodeURIComponent(c['pck_crl_issuer_chain'] ?? ''));
      res.end(body(Buffer.from(c['pck_crl'] ?? '', 'hex'), crl.pck));
    } else if (p === '/sgx/certification/v4/rootcacrl') {
      res.end(body(Buffer.from(c['root_ca_crl'] ?? '', 'hex'), crl.root));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { origin: `http://127.0.0.1:${a && typeof a === 'object' ? a.port : 0}`, close: () => new Promise((r) => server.close(r)) };
}

describe('warden verify --pccs against a PCCS written elsewhere', () => {
  it('verifies with PCK CRLs as hex, PEM and DER, root CRLs as hex, DER and PEM, and either form of base URL', async () => {
    const quoteFile = path.join(w.dir, 'quote-indep.bin');
    fs.writeFileSync(quoteFile, w.quote);
    const platform = await w.pki.platform({ ca: 'processor' });
    const c = { ...(collateralToJson(await makeCollateral(w.pki, { platform })) as unknown as Record<string, string>), fmspc: w.fmspc.toLowerCase() };
    const combos: Array<{ pck: 'hex' | 'pem' | 'der'; root: 'hex' | 'der' | 'pem' }> = [
      { pck: 'hex', root: 'hex' },
      { pck: 'pem', root: 'der' },
      { pck: 'der', root: 'pem' },
    ];
    for (const crl of combos) {
      const p = await independentPccs(c, crl);
      try {
        for (const base of [p.origin, `${p.origin}/sgx/certification/v4/`]) {
          const r = await warden('verify', '--quote', quoteFile, '--pccs', base, '--root-ca', rootFile, '--json');
          assert.equal(r.code, 0, `${JSON.stringify(crl)} ${base}: ${r.out}${r.err}`);
          assert.equal((JSON.parse(r.out) as { ok: boolean }).ok, true);
        }
      } finally {
        await p.close();
      }
    }
  });

  it('an unusable --pccs-ca file is a usage error (exit 2, one line), not a verdict', async () => {
    const quoteFile = path.join(w.dir, 'quote-ca.bin');
    fs.writeFileSync(quoteFile, w.quote);
    const r = await warden('verify', '--quote', quoteFile, '--pccs', s.url, '--pccs-ca', path.join(w.dir, 'no-such-ca.pem'), '--root-ca', rootFile, '--json');
    assert.equal(r.code, 2, r.out + r.err);
    assert.equal(r.out, '');
    assert.match(r.err, /no-such-ca\.pem/);
  });
});
