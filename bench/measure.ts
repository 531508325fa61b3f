// Timing helpers. The machine is shared, so cases are measured in interleaved rounds and compared
// round by round (a ratio taken within one round sees the same load on both sides).
import os from 'node:os';

/** Runs fn(i) for i in [0, n) and returns the mean µs per call. */
export function usPerCall(n: number, fn: (i: number) => unknown): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile (p in 0..100) of an unsorted list; NaN when empty. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

export interface Case {
  /** One batch; returns µs per operation. */
  batch: (round: number) => number;
}

/**
 * Interleaved rounds: every case runs one batch per round, in a rotated order so no case always
 * follows the same neighbour. Returns the µs/op of every round, per case.
 */
export function interleave(cases: Record<string, Case>, rounds: number): Record<string, number[]> {
  const names = Object.keys(cases);
  const out: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]!;
      fullGc(); // no batch pays for the garbage of the one before it
      out[name]!.push(cases[name]!.batch(r));
    }
  }
  return out;
}

/** Median over rounds of a/b taken round by round. */
export function ratioOfRounds(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}

export function round(x: number, digits = 1): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A full GC when node runs with --expose-gc (run.ts and growth.ts make sure it does); else nothing. */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
}

export interface Machine {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  platform: string;
  totalMemMiB: number;
  loadavgAtStart: number[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
    loadavgAtStart: os.loadavg().map((x) => round(x, 2)),
  };
}
