// `npm run bench`: verification, key release, boot and cost growth, measured in one run and printed as
// a table (or, with --json, one JSON object on stdout). --quick is a short smoke run on tiny sizes.
// --only=verification,release,boot,growth picks sections; --max-platforms=N caps the growth sizes;
// --from=FILE prints the table of a saved --json run. Progress goes to stderr so stdout stays the table
// or the JSON. Profiles: bench/profile.ts (verification), WARDEN_BENCH_SERVER_PROF=DIR (release server).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchBatch, type BatchResult } from './batch.ts';
import { benchBoot, type BootResult } from './boot.ts';
import { benchGrowth, type GrowthDimension, type GrowthResult } from './growth.ts';
import { machine, round, type Machine } from './measure.ts';
import { benchNonces, type NonceResult } from './nonces.ts';
import { benchRelease, type ReleaseResult } from './release.ts';
import { benchVerification, type VerificationResult } from './verification.ts';

const SECTIONS = ['verification', 'batch', 'release', 'nonces', 'boot', 'growth'] as const;
type Section = (typeof SECTIONS)[number];

type Outcome<T> = T | { error: string };

export interface BenchReport {
  machine: Machine;
  quick: boolean;
  verification: Outcome<VerificationResult> | { skipped: true };
  batch: Outcome<BatchResult> | { skipped: true };
  release: Outcome<ReleaseResult> | { skipped: true };
  nonces: Outcome<NonceResult> | { skipped: true };
  boot: Outcome<BootResult> | { skipped: true };
  growth: Outcome<GrowthResult> | { skipped: true };
  loadavgAtEnd: number[];
  seconds: number;
}

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\nusage: npm run bench -- [--json] [--quick] [--only=${SECTIONS.join(',')}] [--max-platforms=N] [--from=FILE]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { json: boolean; quick: boolean; only: Set<Section>; maxPlatforms?: number; from?: string } {
  let from: string | undefined;
  let json = false;
  let quick = false;
  let only = new Set<Section>(SECTIONS);
  let maxPlatforms: number | undefined;
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '--quick') quick = true;
    else if (a.startsWith('--only=')) {
      const names = a.slice(7).split(',');
      for (const n of names) if (!(SECTIONS as readonly string[]).includes(n)) usage(`unknown section '${n}'`);
      only = new Set(names as Section[]);
    } else if (a.startsWith('--max-platforms=')) {
      maxPlatforms = Number(a.slice(16));
      if (!Number.isInteger(maxPlatforms) || maxPlatforms < 1) usage('--max-platforms needs a positive integer');
    } else if (a.startsWith('--from=') && a.length > 7) from = a.slice(7);
    else usage(`unknown argument '${a}'`);
  }
  return { json, quick, only, ...(maxPlatforms === undefined ? {} : { maxPlatforms }), ...(from === undefined ? {} : { from }) };
}

async function section<T>(name: Section, only: Set<Section>, fn: () => Promise<T>): Promise<Outcome<T> | { skipped: true }> {
  if (!only.has(name)) return { skipped: true };
  process.stderr.write(`bench: ${name}...\n`);
  const t0 = Date.now();
  try {
    return await fn();
  } catch (e) {
    return { error: (e as Error).message ?? String(e) };
  } finally {
    process.stderr.write(`bench: ${name} done in ${round((Date.now() - t0) / 1000, 1)} s\n`);
  }
}

// ---- the table ----

function table(rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function ok(met: boolean): string {
  return met ? 'met' : 'MISSED';
}

function notRun(v: { error: string } | { skipped: true }): string {
  return 'error' in v ? `  not available: ${v.error}` : '  skipped';
}

function printVerification(v: BenchReport['verification']): string {
  if ('error' in v || 'skipped' in v) return notRun(v);
  const rows: Array<Array<string | number>> = [['quotes', 'Warden q/s', 'µs/q', 'floor q/s', 'of floor', 'target', 'dcap-qvl q/s', 'x dcap-qvl', 'target']];
  const f = v.fixtures;
  rows.push([
    `real fixtures (${f.cases.length})`,
    f.warden.perSecond,
    f.warden.usPerQuote,
    f.floor.perSecond,
    f.fractionOfFloor.toFixed(2),
    '',
    f.dcapQvl?.perSecond ?? 'n/a',
    f.timesDcapQvl === null ? 'n/a' : `${f.timesDcapQvl}x`,
    '',
  ]);
  rows.push([
    `sim, seen before (${v.steady.platforms} platforms)`,
    v.steady.warden.perSecond,
    v.steady.warden.usPerQuote,
    v.steady.floor.perSecond,
    v.steady.fractionOfFloor.toFixed(2),
    `>=0.80 ${ok(v.targets.steadyFractionOfFloor)}`,
    v.steady.dcapQvl.perSecond,
    `${v.steady.timesDcapQvl}x`,
    `>=25x ${ok(v.targets.timesDcapQvl)}`,
  ]);
  rows.push([
    `sim, never seen (${v.cold.platforms} platforms)`,
    v.cold.warden.perSecond,
    v.cold.warden.usPerQuote,
    v.cold.floor.perSecond,
    v.cold.fractionOfFloor.toFixed(2),
    `>=0.70 ${ok(v.targets.coldFractionOfFloor)}`,
    v.steady.dcapQvl.perSecond,
    `${v.cold.timesDcapQvl}x`,
    '',
  ]);
  const notes = [
    `  floor: 2 ECDSA P-256 verifications (node:crypto, cached keys) per quote; never-seen floor adds 1 raw-key import.`,
    `  never seen, full floor (+ PCK key import + CA signature on the leaf): ${v.cold.floorFull.perSecond} q/s; Warden at ${v.cold.fractionOfFullFloor.toFixed(2)} of it.`,
    `  medians over ${v.rounds} interleaved rounds; ratios taken round by round.`,
    ...f.cases.map((c) => `  fixture ${c.name}: Warden ${c.warden}; dcap-qvl ${c.dcapQvl}`),
  ];
  return `${table(rows)}\n${notes.join('\n')}`;
}

function printBatch(b: BenchReport['batch']): string {
  if ('error' in b || 'skipped' in b) return notRun(b);
  return [
    `  ${b.quotesPerSecond} quotes/s (${b.quotesPerSecondWithStartup} q/s with the ${b.startupMs} ms process start) over ${b.quotes} quotes of ${b.platforms} platforms and ${b.fmspcs} FMSPCs;`,
    `  one process reading quote and collateral files, one verdict line each (all verified: ${b.allVerified ? 'yes' : 'NO'}); median of ${b.runs} runs.`,
  ].join('\n');
}

function printRelease(r: BenchReport['release']): string {
  if ('error' in r || 'skipped' in r) return notRun(r);
  const out: string[] = [];
  const patterns = r.patterns ?? [{ pattern: 'keep-alive', modes: r.modes, floor: r.floor, vsFloor: r.vsFloor ?? [], workersSpeedup: [] }];
  for (const p of patterns) {
    const rows: Array<Array<string | number>> = [['server', 'clients', 'releases/s', 'p50 ms', 'p99 ms', 'failures', 'client CPU', 'server CPU', 'server ms/release']];
    const row = (name: string, l: (typeof p.floor)[number]) => {
      const fails = l.failures ? `${l.failures} (${Object.entries(l.failureCodes).map(([k, n]) => `${k}: ${n}`).join(', ')})` : '0';
      const serverCpu = l.serverCpu === null || l.serverCpu === undefined ? 'n/a' : `${Math.round(l.serverCpu * 100)}%`;
      rows.push([name, l.concurrency, l.releasesPerSecond, l.p50ms, l.p99ms, fails, `${Math.round(l.clientCpu * 100)}%`, serverCpu, l.serverCpuMsPerRelease ?? 'n/a']);
    };
    for (const m of p.modes) for (const l of m.levels) row(m.replicas > 1 ? `${m.replicas} replicas, PostgreSQL` : m.workers === 1 ? 'warden serve' : `warden serve --workers ${m.workers}`, l);
    for (const l of p.floor) row('HTTPS floor', l);
    const side: Array<Array<string | number>> = [['clients', 'releases / floor', 'target', 'CPU per release / floor', 'target', 'p99 ms', 'floor p99 ms', 'p99 / floor', 'target']];
    for (const v of p.vsFloor) {
      const p99 = v.floorP99ms > 0 ? v.p99ms / v.floorP99ms : NaN;
      const keep = p.pattern === 'keep-alive' && v.concurrency === 16;
      side.push([
        v.concurrency,
        v.releasesRatio.toFixed(2),
        keep ? `>=0.6 ${ok(v.releasesRatio >= 0.6)}` : '',
        v.cpuPerReleaseRatio === null ? 'n/a' : v.cpuPerReleaseRatio.toFixed(2),
        keep && v.cpuPerReleaseRatio !== null ? `<=3 ${ok(v.cpuPerReleaseRatio <= 3)}` : '',
        v.p99ms,
        v.floorP99ms,
        p99.toFixed(2),
        keep ? `<=3 ${ok(p99 <= 3)}` : '',
      ]);
    }
    out.push(`  clients: ${p.pattern === 'keep-alive' ? 'keep-alive (each client keeps its TLS connection)' : "the init's: a new TLS connection per boot (no session resumption) for challenge and attest"}`);
    out.push(table(rows), '  side by side with the HTTPS floor (ratios per round, median over rounds):', table(side));
    for (const w of p.workersSpeedup) out.push(`  --workers ${w.workers} / one process at ${w.concurrency} clients: ${w.ratio.toFixed(2)}x releases/s${w.concurrency === 16 ? ` (target >= 1.5: ${ok(w.ratio >= 1.5)})` : ''}`);
    out.push('');
  }
  const t = r.target;
  const qe = r.qeReportCache;
  out.push(
    `  a release = POST /v1/challenge + quote (1 ECDSA sign, client side) + POST /v1/attest with one HPKE-sealed secret; ${r.rounds ?? 1} rounds of ${r.secondsPerRound ?? (r as { secondsPerLevel?: number }).secondsPerLevel} s per level, Warden and the floor taking turns.`,
    `  fleet: ${r.platforms ?? 1} platforms over ${r.fmspcs ?? 1} FMSPCs, a fresh enclave key per release; database pre-filled with ${r.prefilledAuditEntries ?? 0} audit entries${r.prefilledAuditEntries === 86_400 * 2 ? ' (a day at 2 boots/s)' : ''}.`,
    `  QE-report signature cache (one-process server, whole run): ${qe ? `${qe.hits} hits, ${qe.misses} misses, hit rate ${(qe.hitRate * 100).toFixed(1)}%` : 'n/a'}.`,
    `  server: \`warden serve\` (--root-ca, --pccs from a simulated PCCS, --log-level warn, rate limits raised); CPU shares are of one core (100% = one core busy).`,
    `  HTTPS floor: Fastify over HTTPS answering the same two requests with same-sized responses and doing nothing else (bench/release-floor.ts).`,
    r.replicasSkipped
      ? `  2 replicas on PostgreSQL: not measured (${r.replicasSkipped}).`
      : `  2 replicas on PostgreSQL: two \`warden serve --database postgres://...\` on one local PostgreSQL (fsync on); each release's challenge goes to one replica and its attest to the other; server CPU is both replicas plus PostgreSQL.`,
    `  the first release was opened and matched the stored secret: ${r.sealedSecretOpened ? 'yes' : 'no'}; the load generator shares the machine's cores.`,
    t ? `  target >= 2,500 releases/s with p99 < 25 ms at 64 clients: ${ok(t.met)} (best: ${t.releasesPerSecondAt64}/s, p99 ${t.p99msAt64} ms)` : '  target: not measured at 64 clients',
  );
  return out.join('\n');
}

function printNonces(n: BenchReport['nonces']): string {
  if (!n) return '  not in this report';
  if ('error' in n || 'skipped' in n) return notRun(n);
  const rows: Array<Array<string | number>> = [['simulated s', 'stored rows']];
  // At most ten rows, evenly spaced; the JSON keeps every sample.
  const step = Math.max(1, Math.ceil(n.samples.length / 10));
  n.samples.forEach((s, i) => (i % step === step - 1 || i === n.samples.length - 1) && rows.push([s.atSeconds, s.storedRows]));
  return [
    table(rows),
    `  ${n.consumed} nonces consumed at ${n.ratePerSecond}/s over ${n.simulatedSeconds} simulated s, lifetime ${n.lifetimeSeconds} s (${n.engine}, simulated clock, real store):`,
    `  at most ${n.maxStoredRows} rows stored (bound rate x lifetime + one purge batch = ${n.boundRows}: ${ok(n.maxStoredRows <= n.boundRows)}); ${n.storedAtEnd} at the end, ${n.databaseKiB} KiB on disk.`,
    `  a day at this rate: still at most ${n.boundRows} rows (without purging: ${n.rowsPerDayUnpurged.toLocaleString('en')}); µs per consume, first tenth ${n.usPerConsumeFirst}, last tenth ${n.usPerConsumeLast}.`,
  ].join('\n');
}

function printBoot(b: BenchReport['boot']): string {
  if ('error' in b || 'skipped' in b) return notRun(b);
  if (!b.available) return `  not available: ${b.reason}`;
  const musl = 'available' in b.musl ? `musl init: not measured: ${b.musl.reason}` : `musl init: p50 ${b.musl.p50ms} ms, p90 ${b.musl.p90ms} ms (min ${b.musl.minms}, max ${b.musl.maxms})`;
  return `  init start to mount call, glibc init: p50 ${b.p50ms} ms, p90 ${b.p90ms} ms (min ${b.minms}, max ${b.maxms}) over ${b.runs} runs\n  ${musl}\n  real warden-init under the LD_PRELOAD harness, quotes from the harness socket, HTTPS to the bench server on loopback; the inits alternate run by run.`;
}

function printGrowth(g: BenchReport['growth']): string {
  if ('error' in g || 'skipped' in g) return notRun(g);
  const dims: Array<[string, GrowthDimension | { error: string }]> = [
    ['distinct platforms (PCK certificates), one FMSPC', g.platforms],
    ['cached FMSPCs (one collateral object each)', g.fmspcs],
  ];
  const out: string[] = [];
  for (const [title, d] of dims) {
    if ('error' in d) {
      out.push(`  ${title}: not available: ${d.error}`);
      continue;
    }
    const rows: Array<Array<string | number>> = [['n', 'µs/quote', 'floor µs', 'x floor', 'verifier KiB/item', 'heap MiB', 'RSS MiB']];
    for (const p of d.points) rows.push([p.n, p.usPerQuote, p.floorUsPerQuote, p.relativeToFloor.toFixed(2), p.verifierBytesPerItem === null ? '-' : round(p.verifierBytesPerItem / 1024, 1), p.heapUsedMiB, p.rssMiB]);
    out.push(`  ${title}:`, table(rows), `  spread of cost over floor, largest/smallest: ${d.spread.toFixed(2)} (target <= 1.20: ${ok(d.flat)}); data generated in ${d.setupSeconds} s`);
  }
  return out.join('\n');
}

export function render(r: BenchReport): string {
  const m = r.machine;
  return [
    `Warden benchmarks${r.quick ? ' (--quick: smoke sizes, numbers not meaningful)' : ''}`,
    `  ${m.date}; node ${m.node}; ${m.cpus} x ${m.cpuModel}; ${m.platform}; ${m.totalMemMiB} MiB`,
    `  load average at start ${m.loadavgAtStart.join(' ')}, at end ${r.loadavgAtEnd.join(' ')}${(m.loadavgAtStart[0] ?? 0) > m.cpus * 0.5 ? ' (machine shared/loaded: absolute numbers low, same-run ratios hold)' : ''}; ${r.seconds} s`,
    '',
    '1. Verification, in process, one core, collateral cached',
    printVerification(r.verification),
    '',
    '1b. `warden verify --batch FILE` (one process, files on disk)',
    printBatch(r.batch),
    '',
    '2. Key release over HTTPS on loopback',
    printRelease(r.release),
    '',
    '2b. Consumed nonces under sustained traffic',
    printNonces(r.nonces),
    '',
    '3. Boot',
    printBoot(r.boot),
    '',
    '4. Cost growth',
    printGrowth(r.growth),
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (!a.from && typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    // Batches start from a collected heap, so none pays for another's garbage: run again with --expose-gc.
    const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
    return r.status ?? 1;
  }
  if (a.from) {
    process.stdout.write(render(JSON.parse(fs.readFileSync(a.from, 'utf8')) as BenchReport));
    return 0;
  }
  const t0 = Date.now();
  const m = machine();
  // Verification first, while nothing of ours runs beside it; growth last (it takes longest).
  const verification = await section('verification', a.only, () => benchVerification({ quick: a.quick }));
  const batch = await section('batch', a.only, () => benchBatch({ quick: a.quick }));
  const release = await section('release', a.only, () => benchRelease({ quick: a.quick }));
  const nonces = await section('nonces', a.only, () => benchNonces({ quick: a.quick }));
  const boot = await section('boot', a.only, () => benchBoot({ quick: a.quick }));
  const growth = await section('growth', a.only, () => benchGrowth(a.maxPlatforms === undefined ? { quick: a.quick } : { quick: a.quick, max: a.maxPlatforms }));
  const report: BenchReport = {
    machine: m,
    quick: a.quick,
    verification,
    batch,
    release,
    nonces,
    boot,
    growth,
    loadavgAtEnd: os.loadavg().map((x) => round(x, 2)),
    seconds: round((Date.now() - t0) / 1000, 1),
  };
  process.stdout.write(a.json ? `${JSON.stringify(report)}\n` : render(report));
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
