// Where a key release's server CPU goes (issue #16 item 6): runs the release benchmark's keep-alive level
// (one process, 16 clients by default) with the server under --cpu-prof, then sorts the server's samples into
// the buckets of issue #16's table and converts them to µs per release with the CPU per release the run measured.
//   node --import tsx bench/profile-release.ts [--clients=16] [--seconds=4] [--rounds=3] [--top=N] [--json]
//   node --import tsx bench/profile-release.ts --from=FILE.cpuprofile --cpu-ms-per-release=X
// A sample goes to the bucket of the innermost frame on its stack that a rule names (so OpenSSL's work in a
// native call counts for the module that made the call); idle time is left out.
// Only samples inside the measured levels count (start-up, module loading, schema compilation and the warm-up
// are left out: they were a third of the samples and inflated 'other' and 'AJV'), and every sample weighs the
// same: V8 stamps a sample with the wall time since the last one, so on a loaded machine the time the process
// waited for a core went to whatever it ran when it got one back (mostly the socket writes that woke a client).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchRelease } from './release.ts';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Buckets in the order of the table; the first rule that matches a frame wins, innermost frame first. */
const RULES: Array<[bucket: string, test: (f: CallFrame) => boolean]> = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['audit canonical JSON + SHA-256', (f) => f.url.endsWith('src/store/audit.ts') && /canonicalJson|normalize|entryHash/.test(f.functionName)],
  ['SQLite and the store', (f) => /\/src\/store\//.test(f.url) || /better-sqlite3/.test(f.url)],
  ['HPKE seal', (f) => /\/src\/(crypto\/hpke|crypto\/p256|secrets\/sealing|protocol\/sealing)\.ts$/.test(f.url)],
  ['quote verification', (f) => /\/src\/(dcap|collateral)\//.test(f.url) || f.url.endsWith('src/server/quote-verifier.ts')],
  ['JWT', (f) => f.url.endsWith('src/secrets/jwt.ts')],
  ['policy', (f) => /\/src\/policy\//.test(f.url)],
  ['metrics', (f) => /src\/server\/(server-)?metrics\.ts$/.test(f.url) || /node_modules\/prom-client\//.test(f.url)],
  ['AJV (request validation)', (f) => /node_modules\/ajv\//.test(f.url)],
  ['Fastify', (f) => /node_modules\/(fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|pino|@fastify)\//.test(f.url)],
  ['TLS + HTTP (node)', (f) => /^node:(_tls|tls|_http|http|https|net|stream|internal\/(tls|http|streams|stream_base|net))/.test(f.url)],
  ['Warden server code (attest, app)', (f) => /\/src\/(server|protocol)\//.test(f.url)],
];
const OTHER = 'other';

/** A measured level's window, in µs of CLOCK_MONOTONIC (a V8 profile's clock). */
export interface Window {
  startUs: number;
  endUs: number;
}

/** Sample counts per bucket (samples inside `windows` only, when given); the total is of the non-idle samples counted. */
export function bucketize(p: Profile, windows?: readonly Window[]): { buckets: Record<string, number>; total: number; leaves: Record<string, Record<string, number>> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string | null>();
  const bucketOf = (id: number): string | null => {
    if (memo.has(id)) return memo.get(id)!;
    const f = byId.get(id)!.callFrame;
    let b: string | null;
    if (f.functionName === '(idle)') b = null;
    else {
      const rule = RULES.find(([, t]) => t(f));
      b = rule ? rule[0] : parent.has(id) ? bucketOf(parent.get(id)!) : OTHER;
    }
    memo.set(id, b);
    return b;
  };
  const buckets: Record<string, number> = {};
  const leaves: Record<string, Record<string, number>> = {};
  let total = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (windows && !windows.some((w) => t >= w.startUs && t <= w.endUs)) return;
    const b = bucketOf(id);
    if (b === null) return;
    buckets[b] = (buckets[b] ?? 0) + 1;
    total += 1;
    const f = byId.get(id)!.callFrame;
    const leaf = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|src)\//, '$1/')}`;
    const l = (leaves[b] ??= {});
    l[leaf] = (l[leaf] ?? 0) + 1;
  });
  return { buckets, total, leaves };
}

function table(buckets: Record<string, number>, total: number, cpuMsPerRelease: number): Array<{ bucket: string; share: number; usPerRelease: number }> {
  return [...RULES.map(([b]) => b), OTHER]
    .filter((b) => buckets[b])
    .map((b) => ({ bucket: b, share: +(buckets[b]! / total).toFixed(4), usPerRelease: Math.round((buckets[b]! / total) * cpuMsPerRelease * 1000) }));
}

const args = new Map<string, string | undefined>(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v];
  }),
);

let profiles: Profile[];
let windows: Window[] | undefined;
let cpuMsPerRelease: number;
let context: Record<string, unknown>;
if (args.has('from')) {
  profiles = [JSON.parse(fs.readFileSync(args.get('from')!, 'utf8')) as Profile];
  cpuMsPerRelease = Number(args.get('cpu-ms-per-release'));
  if (!(cpuMsPerRelease > 0)) throw new Error('--from needs --cpu-ms-per-release=X');
  context = { from: args.get('from') };
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-prof-'));
  process.env['WARDEN_BENCH_SERVER_PROF'] = dir;
  const clients = Number(args.get('clients') ?? 16);
  const load0 = os.loadavg();
  const measured: Window[] = [];
  const r = await benchRelease({
    quick: false,
    concurrencies: [clients],
    workerCounts: [1],
    patterns: ['keep-alive'],
    replicas: false,
    seconds: Number(args.get('seconds') ?? 4),
    rounds: Number(args.get('rounds') ?? 3),
    onLevel: (w) => {
      if (w.workers === 1 && w.replicas === 1) measured.push({ startUs: Number(w.startNs / 1000n), endUs: Number(w.endNs / 1000n) });
    },
  });
  windows = measured;
  const level = r.modes[0]!.levels[0]!;
  if (level.serverCpuMsPerRelease === null) throw new Error('no server CPU measure (/proc missing)');
  cpuMsPerRelease = level.serverCpuMsPerRelease;
  profiles = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Profile);
  fs.rmSync(dir, { recursive: true, force: true });
  context = {
    clients,
    releasesPerSecond: level.releasesPerSecond,
    serverCpuMsPerRelease: cpuMsPerRelease,
    floorCpuMsPerRelease: r.floor[0]!.serverCpuMsPerRelease,
    vsFloor: r.vsFloor[0],
    qeReportCache: r.qeReportCache,
    loadavg: { start: load0.map((x) => +x.toFixed(2)), end: os.loadavg().map((x) => +x.toFixed(2)) },
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    node: process.version,
  };
}
if (profiles.length === 0) throw new Error('no server profile was written');
// bin/warden.js may start the server in a child process: the profile that did the work has the most busy time.
const { buckets, total, leaves } = profiles.map((p) => bucketize(p, windows)).sort((a, b) => b.total - a.total)[0]!;
const rows = table(buckets, total, cpuMsPerRelease);
if (args.has('json')) console.log(JSON.stringify({ ...context, rows }));
else {
  console.log(`server CPU per release ${cpuMsPerRelease} ms; ${windows ? 'samples of the measured levels only' : 'profile of the whole run (start-up and warm-up included)'}, ${Math.round(total)} samples; ${JSON.stringify(context)}`);
  const top = Number(args.get('top') ?? 0);
  for (const r of rows) {
    console.log(`  ${r.bucket.padEnd(36)} ${String(r.usPerRelease).padStart(6)} µs  ${(r.share * 100).toFixed(1).padStart(5)}%`);
    // --top=N: the N functions the bucket's samples were in (self time), in µs per release.
    const per = Object.entries(leaves[r.bucket] ?? {}).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [leaf, n] of per) console.log(`      ${String(Math.round((n / total) * cpuMsPerRelease * 1000)).padStart(6)} µs  ${leaf}`);
  }
}
