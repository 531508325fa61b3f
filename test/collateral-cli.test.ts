import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { main } from '../src/cli/main.ts';
import type { Io } from '../src/cli/io.ts';
import { CollateralCache } from '../src/collateral/cache.ts';
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
    const a = new CollateralCache(path.join(site, 'warden.db'));
    const b = new CollateralCache(path.join(gapped, 'warden.db'));
    try {
      assert.deepEqual(
        b.list().map((i) => ({ ...i, fetchedAt: 0 })),
        a.list().map((i) => ({ ...i, fetchedAt: 0 })),
      );
      for (const [x, y] of a.list().map((it, i) => [it, b.list()[i]!] as const)) assert.equal(x.fetchedAt.getTime(), y.fetchedAt.getTime());
    } finally {
      a.close();
      b.close();
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
    assert.match(im.err, /bundle refused: item \d+ refused, nothing imported: bad_signature: TCB Info for FMSPC/);
    const c = new CollateralCache(path.join(gapped, 'warden.db'));
    try {
      assert.equal(c.list().length, 0);
    } finally {
      c.close();
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
