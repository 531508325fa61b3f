import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { CollateralUnavailableError } from '../src/collateral/errors.ts';
import { COLLATERAL_REUSE_MS, CollateralProvider } from '../src/collateral/provider.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { PCCS_FAILURES, type PccsServer } from '../src/sim/pccs-server.ts';
import { DAY, FAST, makeWorld, pccs, recordingLogger, type World } from './collateral-helpers.ts';

let w: World;
const servers: PccsServer[] = [];
const caches: StoreCollateralCache[] = [];

async function openCache(name: string): Promise<StoreCollateralCache> {
  const c = await StoreCollateralCache.open(path.join(w.dir, name));
  caches.push(c);
  return c;
}

async function server(opts: Parameters<typeof pccs>[1] = {}): Promise<PccsServer> {
  const s = await pccs(w, opts);
  servers.push(s);
  return s;
}

before(async () => {
  w = await makeWorld();
});

after(async () => {
  for (const s of servers) await s.close();
  for (const c of caches) await (await c.close());
  fs.rmSync(w.dir, { recursive: true, force: true });
});

describe('collateral provider', () => {
  it('hands out one object per platform, reading the store at most once per reuse window and never past nextUpdate', async () => {
    const s = await server();
    const cache = await openCache('reuse.db');
    let reads = 0;
    const get = cache.get.bind(cache);
    cache.get = (id) => {
      reads++;
      return get(id);
    };
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
    const t0 = new Date();
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const first = await provider.get(w.fmspc, 'processor', t0);
    const afterFill = reads;
    for (const ms of [1, 500, COLLATERAL_REUSE_MS - 1]) assert.equal(await provider.get(w.fmspc, 'processor', at(ms)), first);
    assert.equal(reads, afterFill, 'no store read inside the window');
    assert.equal(await provider.get(w.fmspc, 'processor', at(COLLATERAL_REUSE_MS)), first, 'same bytes, same object');
    assert.equal(reads, afterFill + 4, 'the four items read again once the window is over');
    assert.ok(Object.isFrozen(first), 'collateral objects are immutable');
    // Past the items' nextUpdate the object is never handed out again (the store is read, and it has nothing valid).
    const nextUpdate = Math.min(...(await cache.list()).map((it) => it.nextUpdate.getTime()));
    s.setFailure('5xx');
    await assert.rejects(provider.get(w.fmspc, 'processor', new Date(nextUpdate)), CollateralUnavailableError);
    s.setFailure('none');
  });

  it('fills a cold cache from the PCCS over HTTP, then serves it warm with the PCCS stopped', async () => {
    const s = await server();
    const file = 'warm.db';
    const cache = await openCache(file);
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
    const now = new Date();
    const col = await provider.get(w.fmspc, 'processor', now);
    const v = verifyQuote(w.quote, col, { at: now, trustedRoot: w.pki.rootPem });
    assert.equal(v.fmspc, w.fmspc);
    assert.deepEqual((await cache.list()).map((i) => `${i.kind}/${i.key}`).sort(), ['pck_crl/processor', 'qe_identity/', 'root_ca_crl/', `tcb_info/${w.fmspc}`]);
    for (const it of (await cache.list())) assert.ok(it.source.startsWith(s.url), it.source);
    const fetched = s.requests.length;
    assert.equal(fetched, 4);

    // A second verification uses the cache: no request reaches the PCCS.
    await provider.get(w.fmspc, 'processor', now);
    assert.equal(s.requests.length, fetched);

    // PCCS gone, process restarted: the cache on disk still serves the same collateral.
    await s.close();
    await (await cache.close());
    const reopened = await openCache(file);
    const offline = new CollateralProvider({ cache: reopened, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
    const again = await offline.get(w.fmspc.toUpperCase(), 'processor', now);
    assert.deepEqual(again, col);
  });

  it('keeps the exact bytes the PCCS sent, and the issuer chains from its headers', async () => {
    const s = await server();
    const cache = await openCache('bytes.db');
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
    const col = await provider.get(w.fmspc, 'processor');
    const tcb = (await cache.get({ kind: 'tcb_info', key: w.fmspc }))!;
    assert.ok(tcb.raw.toString('utf8').includes(col.tcbInfo));
    assert.equal(col.tcbInfoIssuerChain, w.pki.chain('tcbSigning'));
    assert.equal(col.pckCrlIssuerChain, w.pki.chain('processor'));
    // The PCCS serves the root CA CRL as hex text; the cache keeps it so, the collateral has DER.
    assert.match((await cache.get({ kind: 'root_ca_crl', key: '' }))!.raw.toString('latin1'), /^[0-9a-f]+$/);
    assert.equal(col.rootCaCrl[0], 0x30);
  });

  for (const mode of PCCS_FAILURES.filter((m) => m !== 'none')) {
    it(`falls back from a source that fails with '${mode}' to the next one, and logs why`, async () => {
      const bad = await server({ fail: mode });
      const good = await server();
      const log = recordingLogger();
      const cache = await openCache(`fallback-${mode}.db`);
      const provider = new CollateralProvider({ cache, sources: new SourceSet([bad.url, good.url], FAST, log), trustedRoot: w.anchor, logger: log });
      const now = new Date();
      const col = await provider.get(w.fmspc, 'processor', now);
      assert.equal(verifyQuote(w.quote, col, { at: now, trustedRoot: w.pki.rootPem }).fmspc, w.fmspc);
      assert.ok(bad.requests.length > 0, 'the failing source was asked first');
      // A wrong-FMSPC source spoils only TCB Info; every other mode spoils every item.
      const spoilt = (await cache.list()).filter((it) => mode !== 'wrongfmspc' || it.kind === 'tcb_info');
      assert.ok(spoilt.length > 0);
      for (const it of spoilt) assert.ok(it.source.startsWith(good.url), `${it.kind} came from ${it.source}`);
      const skipped = log.lines.filter((l) => l.fields.source === bad.url);
      assert.ok(skipped.length > 0, 'the skipped source is logged');
      for (const l of skipped) assert.ok(typeof l.fields.reason === 'string' && l.fields.reason.length > 0);
    });
  }

  it('never uses expired collateral: nothing valid gives collateral_unavailable naming the item and FMSPC', async () => {
    const s = await server();
    const cache = await openCache('expired.db');
    const t0 = new Date();
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor });
    await provider.get(w.fmspc, 'processor', t0);
    await s.close();
    const later = new Date(t0.getTime() + 40 * DAY); // past the 30-day TCB Info / QE Identity / PCK CRL window
    await assert.rejects(provider.get(w.fmspc, 'processor', later), (e: unknown) => {
      assert.ok(e instanceof CollateralUnavailableError);
      assert.equal(e.code, 'collateral_unavailable');
      assert.match(e.message, new RegExp(w.fmspc));
      assert.match(e.message, /TCB Info|QE Identity|PCK CRL/);
      assert.match(e.message, /expired/);
      return true;
    });
  });

  it('skips a source that still serves expired collateral', async () => {
    const stale = await server({ collateral: { at: new Date(Date.now() - 45 * DAY) } });
    const cache = await openCache('stale.db');
    const provider = new CollateralProvider({ cache, sources: new SourceSet([stale.url], FAST), trustedRoot: w.anchor });
    await assert.rejects(provider.get(w.fmspc, 'processor'), (e: unknown) => e instanceof CollateralUnavailableError && /expired/.test(e.message));
    assert.equal((await cache.get({ kind: 'tcb_info', key: w.fmspc })), undefined, 'expired collateral is not stored');
  });

  it('refreshes items before their nextUpdate, so a later source outage is not seen', async () => {
    const t0 = new Date();
    const s = await server({ collateral: { at: t0 } });
    const cache = await openCache('refresh.db');
    let clock = t0;
    const log = recordingLogger();
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST, log), trustedRoot: w.anchor, clock: () => clock, logger: log });
    const first = await provider.get(w.fmspc, 'processor');
    assert.equal(await provider.get(w.fmspc, 'processor'), first, 'unchanged items give the same object, so the verifier prepares it once');
    const before = (await cache.get({ kind: 'tcb_info', key: w.fmspc }))!;

    // Nothing is due yet.
    assert.deepEqual((await provider.refreshDue(DAY)).refreshed, []);

    // 12 hours before TCB Info expires (inside a 24 h margin), Intel has issued newer collateral.
    clock = new Date(before.nextUpdate.getTime() - DAY / 2);
    s.setCollateralOptions({ at: new Date(clock.getTime()) });
    const report = await provider.refreshDue(DAY);
    const refreshed = report.refreshed.map((i) => i.kind).sort();
    assert.deepEqual(refreshed, ['pck_crl', 'qe_identity', 'tcb_info'], 'the yearly root CA CRL is not due');
    const after = (await cache.get({ kind: 'tcb_info', key: w.fmspc }))!;
    assert.ok(after.nextUpdate > before.nextUpdate);
    assert.notEqual(await provider.get(w.fmspc, 'processor'), first, 'refreshed items give a new collateral object');

    // The PCCS goes down past the old expiry: verification carries on with the refreshed items.
    await s.close();
    clock = new Date(before.nextUpdate.getTime() + DAY);
    const col = await provider.get(w.fmspc, 'processor');
    assert.equal(verifyQuote(w.quote, col, { at: clock, trustedRoot: w.pki.rootPem }).fmspc, w.fmspc);
  });

  it('keeps the stored item when a refresh fails, and uses it while it is valid', async () => {
    const s = await server();
    const cache = await openCache('refresh-fail.db');
    const t0 = new Date();
    let clock = t0;
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor, clock: () => clock });
    await provider.get(w.fmspc, 'processor');
    const stored = (await cache.get({ kind: 'tcb_info', key: w.fmspc }))!;
    s.setFailure('5xx');
    clock = new Date(stored.nextUpdate.getTime() - DAY / 2);
    const report = await provider.refreshDue(DAY);
    assert.ok(report.failed.some((f) => f.item.kind === 'tcb_info' && /HTTP 503/.test(f.reason)));
    assert.deepEqual((await cache.get({ kind: 'tcb_info', key: w.fmspc })), stored);
    await provider.get(w.fmspc, 'processor');
  });

  it('refuses collateral that chains to another root', async () => {
    const other = await makeWorld();
    const foreign = await pccs(other);
    servers.push(foreign);
    fs.rmSync(other.dir, { recursive: true, force: true });
    const cache = await openCache('foreign.db');
    const provider = new CollateralProvider({ cache, sources: new SourceSet([foreign.url], FAST), trustedRoot: w.anchor });
    await assert.rejects(provider.get(w.fmspc, 'processor'), (e: unknown) => e instanceof CollateralUnavailableError && /untrusted_root|trusted root/.test(e.message));
    assert.equal((await cache.list()).length, 0);
  });

  it('background refresh runs on start and stops cleanly', async () => {
    const s = await server();
    const cache = await openCache('bg.db');
    const t0 = new Date();
    let clock = t0;
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor, clock: () => clock });
    await provider.get(w.fmspc, 'processor');
    const stored = (await cache.get({ kind: 'qe_identity', key: '' }))!;
    clock = new Date(stored.nextUpdate.getTime() - DAY / 2);
    s.setCollateralOptions({ at: clock });
    const asked = s.requests.length;
    provider.startRefresh({ marginMs: DAY, intervalMs: 3600_000 });
    await provider.stop(); // waits for the refresh started on start
    assert.ok(s.requests.length > asked);
    assert.ok((await cache.get({ kind: 'qe_identity', key: '' }))!.nextUpdate > stored.nextUpdate);
  });

  it('ignores cached rows that no longer chain to the trusted root or were edited in the database', async () => {
    const s = await server();
    const cache = await openCache('edited.db');
    const now = new Date();
    await new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor }).get(w.fmspc, 'processor', now);
    await s.close();
    // Someone lowers the TCB Info in the database directly: the row is not used.
    const tcb = (await cache.get({ kind: 'tcb_info', key: w.fmspc }))!;
    const edited = tcb.raw.toString('utf8').replace('"OutOfDate"', '"UpToDate"');
    assert.notEqual(edited, tcb.raw.toString('utf8'));
    await cache.engine.run('UPDATE collateral_cache SET raw = ? WHERE kind = ? AND key = ?', [Buffer.from(edited), 'tcb_info', w.fmspc]);
    const log = recordingLogger();
    const provider = new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor, logger: log });
    await assert.rejects(provider.get(w.fmspc, 'processor', now), (e: unknown) => e instanceof CollateralUnavailableError && e.item.kind === 'tcb_info');
    assert.ok(log.lines.some((l) => l.fields.reason === 'signature_invalid'));
    // Under another trusted root, none of the cached items is used.
    const other = await makeWorld();
    fs.rmSync(other.dir, { recursive: true, force: true });
    const strict = new CollateralProvider({ cache, sources: new SourceSet([], FAST), trustedRoot: other.anchor });
    await assert.rejects(strict.get(w.fmspc, 'processor', now), CollateralUnavailableError);
  });
});
