// Section 4: cost growth. Per-quote verification time and memory as the number of distinct platforms
// (PCK certificates, one collateral set) or of cached FMSPCs (one collateral object each) grows.
// Each dimension runs in a child process of its own, so one's caches and heap never colour the other.
// Sizes grow in place: the N platforms of one size are the first N of the next.
import { execFile } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Collateral } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { parseQuote } from '../src/dcap/quote.ts';
import { SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { fullGc, interleave, median, ratioOfRounds, round, usPerCall } from './measure.ts';
import { PlatformFactory } from './platforms.ts';

export type Dimension = 'platforms' | 'fmspcs';

export interface GrowthPoint {
  n: number;
  usPerQuote: number;
  floorUsPerQuote: number;
  /** µs per quote over the floor's µs in the same rounds: the load-independent cost. */
  relativeToFloor: number;
  heapUsedMiB: number;
  rssMiB: number;
  /**
   * Heap + external memory the verifier's caches hold per platform (or FMSPC) at this size; null below
   * 100 items, where a few hundred KiB of GC noise swamps it.
   */
  verifierBytesPerItem: number | null;
}

export interface GrowthDimension {
  dimension: Dimension;
  points: GrowthPoint[];
  /** Largest over smallest relativeToFloor across sizes; the target is at most 1.2. */
  spread: number;
  flat: boolean;
  setupSeconds: number;
}

export interface GrowthResult {
  sizes: number[];
  platforms: GrowthDimension | { error: string };
  fmspcs: GrowthDimension | { error: string };
}

function memNow(): { heap: number; external: number; rss: number } {
  fullGc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss };
}

function fmspcOf(i: number): Buffer {
  const b = Buffer.alloc(6);
  b[0] = 0x70; // away from the sim's default FMSPC
  b.writeUIntBE(i + 1, 1, 5);
  return b;
}

/** Runs one dimension in this process. */
export async function runDimension(dimension: Dimension, sizes: number[], rounds: number, minOps: number): Promise<GrowthDimension> {
  const t0 = Date.now();
  const pki = await SimPki.create();
  const factory = await PlatformFactory.create(pki);
  const at = new Date();
  const [rootCrlDer, pckCrlDer] = await Promise.all([pki.rootCrl({}, at), pki.pckCrl('processor', {}, at)]);
  const shared = await makeCollateral(pki, { at, rootCrlDer, pckCrlDer });
  const quotes: Buffer[] = [];
  const collaterals: Collateral[] = [];
  let setupMs = Date.now() - t0;

  // The floor as the load gauge: the two signature checks of a quote with cached keys, on a small set.
  const floorSet = Array.from({ length: 32 }, () => {
    const p = factory.make();
    const q = parseQuote(makeQuote({ platform: p }));
    return {
      pck: createPublicKey(p.pckKey),
      att: createPublicKey(p.attestationKey),
      qeReport: q.signature.qeReport.raw,
      qeSig: q.signature.qeReportSignature,
      signed: q.signedBytes,
      isv: q.signature.isvSignature,
    };
  });

  // Prime the verifier (trusted root, shared collateral) so one-time work is not charged to size 1.
  verifyQuote(makeQuote({ platform: factory.make() }), shared, { at, trustedRoot: pki.rootPem });

  const points: GrowthPoint[] = [];
  let verifierBytes = 0;
  for (const n of sizes) {
    const s0 = Date.now();
    while (quotes.length < n) {
      const i = quotes.length;
      const p = factory.make(dimension === 'fmspcs' ? fmspcOf(i) : undefined);
      quotes.push(makeQuote({ platform: p }));
      collaterals.push(dimension === 'fmspcs' ? await makeCollateral(pki, { at, platform: p, rootCrlDer, pckCrlDer }) : shared);
    }
    setupMs += Date.now() - s0;
    // Memory the verifier adds for the new platforms: measured around their first verification.
    const before = memNow();
    for (let i = points.length ? points[points.length - 1]!.n : 0; i < n; i++) verifyQuote(quotes[i]!, collaterals[i]!, { at, trustedRoot: pki.rootPem });
    const after = memNow();
    verifierBytes += after.heap + after.external - before.heap - before.external;

    const ops = Math.max(n, minOps);
    const r = interleave(
      {
        floor: {
          batch: () =>
            usPerCall(ops, (i) => {
              const k = floorSet[i % floorSet.length]!;
              verify('sha256', k.qeReport, { key: k.pck, dsaEncoding: 'ieee-p1363' }, k.qeSig);
              verify('sha256', k.signed, { key: k.att, dsaEncoding: 'ieee-p1363' }, k.isv);
            }),
        },
        warden: { batch: () => usPerCall(ops, (i) => verifyQuote(quotes[i % n]!, collaterals[i % n]!, { at, trustedRoot: pki.rootPem })) },
      },
      rounds,
    );
    const m = process.memoryUsage();
    points.push({
      n,
      usPerQuote: round(median(r['warden']!), 1),
      floorUsPerQuote: round(median(r['floor']!), 1),
      relativeToFloor: round(ratioOfRounds(r['warden']!, r['floor']!), 3),
      heapUsedMiB: round(m.heapUsed / 2 ** 20, 1),
      rssMiB: round(m.rss / 2 ** 20, 1),
      verifierBytesPerItem: n >= 100 ? Math.round(verifierBytes / n) : null,
    });
  }
  const rel = points.map((p) => p.relativeToFloor);
  const spread = Math.max(...rel) / Math.min(...rel);
  return { dimension, points, spread: round(spread, 3), flat: spread <= 1.2, setupSeconds: round(setupMs / 1000, 1) };
}

const execFileP = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);

async function inChild(dimension: Dimension, sizes: number[], rounds: number, minOps: number): Promise<GrowthDimension | { error: string }> {
  try {
    const { stdout } = await execFileP(process.execPath, ['--expose-gc', '--import', 'tsx', SELF, 'child', dimension, sizes.join(','), String(rounds), String(minOps)], {
      maxBuffer: 16 * 2 ** 20,
      env: process.env,
      // A watchdog: a stuck child must not hang `npm run bench` (a full dimension takes 1-3 minutes).
      timeout: 15 * 60_000,
      killSignal: 'SIGKILL',
    });
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as GrowthDimension;
  } catch (e) {
    const err = e as { stderr?: string; message?: string; signal?: string | null };
    if (err.signal) return { error: `the ${dimension} child was stopped by ${err.signal} (the watchdog stops it after 15 minutes)` };
    return { error: (err.stderr?.trim().split('\n').pop() || err.message || String(e)).slice(0, 300) };
  }
}

export interface GrowthOptions {
  quick: boolean;
  /** Largest size (default 10,000; 10 with quick). */
  max?: number;
}

export async function benchGrowth(o: GrowthOptions): Promise<GrowthResult> {
  const max = o.max ?? (o.quick ? 10 : 10_000);
  const sizes = [1, 10, 100, 1000, 10_000].filter((n) => n <= max);
  const rounds = o.quick ? 2 : 5;
  const minOps = o.quick ? 50 : 4000;
  // One after the other: two at once would fight over the same two cores.
  const platforms = await inChild('platforms', sizes, rounds, minOps);
  const fmspcs = await inChild('fmspcs', sizes, rounds, minOps);
  return { sizes, platforms, fmspcs };
}

if (process.argv[1] === SELF && process.argv[2] === 'child') {
  const [dimension, sizes, rounds, minOps] = process.argv.slice(3);
  const d = await runDimension(dimension === 'fmspcs' ? 'fmspcs' : 'platforms', (sizes ?? '1').split(',').map(Number), Number(rounds), Number(minOps));
  process.stdout.write(`${JSON.stringify(d)}\n`);
}
