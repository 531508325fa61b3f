// The consumed-nonce table under sustained traffic (issue #16 item 1): nonces are MAC'd and issued
// without a write; each consumed one is kept only until it expires, so the table holds at most
// (rate x lifetime) rows plus one purge batch per process, however long the server runs. Measured on a
// real SQLite file with a simulated clock: `seconds` of traffic at `rate` consumes per second, with the
// default nonce lifetime, sampling the stored rows as it goes. The clock is simulated so that many
// lifetimes fit in a short run; the store, its SQL and its purges are the real ones.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_NONCE_TTL_MS, PURGE_EVERY } from '../src/store/nonces.ts';
import { openStore } from '../src/store/store.ts';
import { round } from './measure.ts';

export interface NonceResult {
  engine: 'sqlite';
  ratePerSecond: number;
  lifetimeSeconds: number;
  simulatedSeconds: number;
  consumed: number;
  /** Most rows the table held at any sample. */
  maxStoredRows: number;
  storedAtEnd: number;
  /** rate x lifetime + one purge batch: what the design promises. */
  boundRows: number;
  /** What a day at this rate would have stored if nothing were ever removed. */
  rowsPerDayUnpurged: number;
  /** Database file size at the end, WAL included. */
  databaseKiB: number;
  /** µs per consume (MAC check + insert) over the first and the last tenth of the run. */
  usPerConsumeFirst: number;
  usPerConsumeLast: number;
  samples: Array<{ atSeconds: number; storedRows: number }>;
}

export async function benchNonces(o: { quick: boolean }): Promise<NonceResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-nonces-'));
  try {
    const file = path.join(tmp, 'warden.db');
    const store = await openStore({ file });
    const nonces = store.nonces(crypto.randomBytes(32));
    const rate = o.quick ? 50 : 700;
    const lifetimeMs = DEFAULT_NONCE_TTL_MS;
    const simulatedSeconds = o.quick ? 300 : 600;
    const total = rate * simulatedSeconds;
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const samples: NonceResult['samples'] = [];
    let maxStored = 0;
    const tenth = Math.max(1, Math.floor(total / 10));
    let firstNs = 0n;
    let lastNs = 0n;
    for (let i = 0; i < total; i++) {
      const now = new Date(t0 + Math.floor((i * 1000) / rate));
      const { nonce } = nonces.issue(lifetimeMs, now);
      const s = process.hrtime.bigint();
      const r = await nonces.consume(nonce, now);
      const e = process.hrtime.bigint() - s;
      if (r !== 'ok') throw new Error(`nonce bench: a fresh nonce was '${r}'`);
      if (i < tenth) firstNs += e;
      if (i >= total - tenth) lastNs += e;
      if ((i + 1) % (rate * 15) === 0) {
        const stored = await nonces.stored();
        maxStored = Math.max(maxStored, stored);
        samples.push({ atSeconds: Math.round((i + 1) / rate), storedRows: stored });
      }
    }
    const storedAtEnd = await nonces.stored();
    maxStored = Math.max(maxStored, storedAtEnd);
    await store.close();
    const bytes = ['', '-wal', '-shm'].reduce((n, suffix) => n + (fs.existsSync(file + suffix) ? fs.statSync(file + suffix).size : 0), 0);
    return {
      engine: 'sqlite',
      ratePerSecond: rate,
      lifetimeSeconds: lifetimeMs / 1000,
      simulatedSeconds,
      consumed: total,
      maxStoredRows: maxStored,
      storedAtEnd,
      boundRows: Math.ceil((rate * lifetimeMs) / 1000) + PURGE_EVERY,
      rowsPerDayUnpurged: rate * 86400,
      databaseKiB: Math.round(bytes / 1024),
      usPerConsumeFirst: round(Number(firstNs) / 1000 / tenth, 1),
      usPerConsumeLast: round(Number(lastNs) / 1000 / tenth, 1),
      samples,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
