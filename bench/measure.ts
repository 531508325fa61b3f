// Timing helpers. The machine is shared, so cases are measured in interleaved rounds and compared
// round by round (a ratio taken within one round sees the same load on both sides).
import fs from 'node:fs';
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

const CLK_TCK = 100; // Linux USER_HZ: /proc times are in 1/100 s

/** CPU seconds of a process and all its descendants (the cluster's workers), or null without /proc. */
export function treeCpuSeconds(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let total = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(/\s+/) : []) total += treeCpuSeconds(Number(k)) ?? 0;
    }
    return total;
  } catch {
    return null;
  }
}

/** CPU seconds of several process trees; null if any cannot be read. */
export function treesCpuSeconds(pids: readonly number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const s = treeCpuSeconds(pid);
    if (s === null) return null;
    total += s;
  }
  return total;
}
