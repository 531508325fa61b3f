// Shared set-up of the collateral tests: a sim PKI, a sim PCCS over real HTTP, a temp cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SimPki, makeQuote } from '../src/sim/index.ts';
import { startPccsServer, type PccsServer, type PccsServerOptions } from '../src/sim/pccs-server.ts';
import { anchorFromRoot, type TrustAnchor } from '../src/collateral/validate.ts';
import type { CollateralLogger } from '../src/collateral/sources.ts';

export const DAY = 86_400_000;

export interface World {
  pki: SimPki;
  anchor: TrustAnchor;
  quote: Buffer;
  fmspc: string;
  dir: string;
}

export async function makeWorld(): Promise<World> {
  const pki = await SimPki.create();
  const platform = await pki.platform({ ca: 'processor' });
  const quote = makeQuote({ platform });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-coll-'));
  return { pki, anchor: anchorFromRoot(pki.rootPem), quote, fmspc: platform.fmspc.toString('hex'), dir };
}

export function pccs(w: World, opts: Omit<PccsServerOptions, 'pki'> = {}): Promise<PccsServer> {
  return startPccsServer({ pki: w.pki, ...opts });
}

/** A logger that keeps what it was told, to assert that skipped sources are reported. */
export function recordingLogger(): CollateralLogger & { lines: { fields: Record<string, unknown>; msg: string }[] } {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  return { lines, warn: (fields, msg) => lines.push({ fields, msg }) };
}

/**
 * Client settings for tests: a hung source must not hold a test for long, but a live sim PCCS on a loaded
 * 2-core machine (load average 15 seen in a full-suite run) can take over 500 ms to answer, and then a test
 * that expects an answer fails on a timeout it never meant to test.
 */
export const FAST = { timeoutMs: 3000, retries: 1, backoffMs: 5 };
