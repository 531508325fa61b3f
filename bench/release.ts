// Section 2: key release over HTTPS on loopback. Closed-loop clients, each doing what a booting
// enclave does: POST /v1/challenge, a quote binding the nonce and a fresh key, POST /v1/attest, and
// getting one HPKE-sealed secret. Measured per release (challenge start to attest response).
//
// The server is the real `warden serve` an operator runs (not --dev: no response validation), with a
// test root (--root-ca) and collateral from a simulated PCCS (--pccs) served by this process, rate
// limits raised out of the way and request logging at warn; the cluster mode is `--workers N`.
// Besides throughput and latency it reports the server's CPU time per release (all its processes,
// from /proc), which a loaded, shared machine changes far less than the rates.
//
// Side by side (issue #16 item 5): Warden, Warden with --workers, and the HTTPS floor
// (bench/release-floor.ts) run at the same time and take turns round by round, in a rotated order; every
// ratio to the floor is taken within a round and the median over rounds is reported (release.vsFloor).
// Two client patterns: keep-alive (each client keeps its TLS connection) and the init's (one new TLS
// connection per boot, no session resumption, used for both requests). The load is a fleet: many
// distinct platforms (PCK certificates, attestation keys, a few FMSPCs) and a fresh enclave key per
// release, so no cache keyed on one client flatters it; the QE-report signature cache's hit rate is read
// from the server's /metrics.
//
// The client's quote costs one SHA-256 and one ECDSA signature per release: each platform's quote is
// built once, then per nonce REPORTDATA is patched and header+body re-signed with the attestation key
// (the QE report signature does not cover the enclave's report data, so it stays valid).
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importP256PrivateKey } from '../src/crypto/p256.ts';
import { openSecret } from '../src/secrets/sealing.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { SIM_ENCLAVE, SimPki } from '../src/sim/index.ts';
import { startPccsServer } from '../src/sim/pccs-server.ts';
import { openStore } from '../src/store/store.ts';
import { pgSkipReason, startPgCluster } from '../test/helpers/postgres.ts';
import { median, percentile, round, treesCpuSeconds } from './measure.ts';
import { PlatformFactory } from './platforms.ts';
import { Fleet, PlatformQuote, PREFILL_RELEASES_PER_SECOND, SECRET, prefill, qeReportCache, release, spawnListening, startServer, stopServer } from './release-parts.ts';

const FLOOR_SCRIPT = fileURLToPath(new URL('./release-floor.ts', import.meta.url));

export interface ReleaseLevel {
  concurrency: number;
  releases: number;
  failures: number;
  /** Failure codes seen, with counts. */
  failureCodes: Record<string, number>;
  seconds: number;
  releasesPerSecond: number;
  p50ms: number;
  p99ms: number;
  /** CPU the load generator itself used, as a share of one core. */
  clientCpu: number;
  /** CPU the server used (all its processes), as a share of one core; null where /proc is missing. */
  serverCpu: number | null;
  /** Server CPU milliseconds per release. */
  serverCpuMsPerRelease: number | null;
}

export interface ReleaseMode {
  workers: number;
  /** `warden serve` processes behind the clients' round robin (challenge on one, attest on the next). */
  replicas: number;
  database: 'sqlite' | 'postgres';
  /** One entry per concurrency: the rounds summed (rates, CPU) and pooled (latencies). */
  levels: ReleaseLevel[];
}

/** Warden against the HTTPS floor at one concurrency; ratios are per round, then the median over rounds. */
export interface VsFloor {
  concurrency: number;
  /** Warden's releases/s over the floor's. */
  releasesRatio: number;
  /** Warden's server CPU per release over the floor's (null without /proc). */
  cpuPerReleaseRatio: number | null;
  /** Warden's p99 and the floor's, over all rounds' releases. */
  p99ms: number;
  floorP99ms: number;
  rounds: number;
}

/** The clients' connection pattern. */
export type ClientPattern = 'keep-alive' | 'connection-per-boot';

export interface PatternResult {
  pattern: ClientPattern;
  modes: ReleaseMode[];
  floor: ReleaseLevel[];
  vsFloor: VsFloor[];
  /** `--workers N` over one process, releases/s, per concurrency (median of per-round ratios). */
  workersSpeedup: Array<{ concurrency: number; workers: number; ratio: number }>;
}

export interface ReleaseResult {
  secondsPerRound: number;
  rounds: number;
  /** Keep-alive clients (the first pattern), kept at the top level for the table and older readers. */
  modes: ReleaseMode[];
  floor: ReleaseLevel[];
  /** Keep-alive, one process, against the floor: the issue's `release.vsFloor[]`. */
  vsFloor: VsFloor[];
  patterns: PatternResult[];
  /** Distinct platforms (PCK certificates and attestation keys) and FMSPCs the releases came from; every release had a fresh enclave key. */
  platforms: number;
  fmspcs: number;
  /** Audit entries in the database before the first measured release. */
  prefilledAuditEntries: number;
  /** The QE-report signature cache of the one-process server over the whole run (from its /metrics). */
  qeReportCache: { hits: number; misses: number; hitRate: number } | null;
  /** The first release of the run was opened and matched the stored secret. */
  sealedSecretOpened: boolean;
  target: { releasesPerSecondAt64: number; p99msAt64: number; met: boolean } | null;
  /** Why the two-replica PostgreSQL mode was not measured, when it was not. */
  replicasSkipped?: string;
}

/** One level's raw results: latencies kept, so rounds can be pooled. */
interface LevelRun {
  lat: number[];
  failures: number;
  failureCodes: Record<string, number>;
  seconds: number;
  clientCpuSeconds: number;
  serverCpuSeconds: number | null;
}

/**
 * Closed loop: `concurrency` clients, each starting its next release when the last one ends. Keep-alive
 * clients share one agent for the level; connection-per-boot clients open a new TLS connection (a new
 * agent: no session to resume) for each release and close it after the attest.
 */
async function level(ports: number[], ca: Buffer, fleet: Fleet, concurrency: number, seconds: number, maxReleases: number, pattern: ClientPattern, pids: number[] = []): Promise<LevelRun> {
  const shared = pattern === 'keep-alive' ? new https.Agent({ keepAlive: true, maxSockets: concurrency * ports.length, ca }) : null;
  const lat: number[] = [];
  const failureCodes: Record<string, number> = {};
  let failures = 0;
  const cpu0 = process.cpuUsage();
  const server0 = pids.length ? treesCpuSeconds(pids) : null;
  const t0 = Date.now();
  const deadline = t0 + seconds * 1000;
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      // With several ports (replicas), each release asks for its challenge on one and attests on the next, in turn.
      let turn = k;
      while (Date.now() < deadline && started < maxReleases) {
        started++;
        turn++;
        const agent = shared ?? new https.Agent({ keepAlive: true, maxSockets: 2, ca });
        const o = await release(agent, ports[turn % ports.length]!, fleet, ports[(turn + 1) % ports.length]!);
        if (!shared) agent.destroy();
        if (o.ok) lat.push(o.ms);
        else {
          failures++;
          failureCodes[o.code ?? 'error'] = (failureCodes[o.code ?? 'error'] ?? 0) + 1;
        }
      }
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server1 = pids.length ? treesCpuSeconds(pids) : null;
  shared?.destroy();
  return { lat, failures, failureCodes, seconds: elapsed, clientCpuSeconds: (cpu.user + cpu.system) / 1e6, serverCpuSeconds: server0 === null || server1 === null ? null : server1 - server0 };
}

/** Several runs of one level (rounds) summed and pooled into one row. */
function summarise(concurrency: number, runs: LevelRun[]): ReleaseLevel {
  const lat = runs.flatMap((r) => r.lat);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const failureCodes: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.failureCodes)) failureCodes[k] = (failureCodes[k] ?? 0) + n;
  const server = runs.some((r) => r.serverCpuSeconds === null) ? null : runs.reduce((a, r) => a + r.serverCpuSeconds!, 0);
  return {
    concurrency,
    releases: lat.length,
    failures: runs.reduce((a, r) => a + r.failures, 0),
    failureCodes,
    seconds: round(seconds, 2),
    releasesPerSecond: Math.round(lat.length / seconds),
    p50ms: round(median(lat), 2),
    p99ms: round(percentile(lat, 99), 2),
    clientCpu: round(runs.reduce((a, r) => a + r.clientCpuSeconds, 0) / seconds, 2),
    serverCpu: server === null ? null : round(server / seconds, 2),
    serverCpuMsPerRelease: server === null || lat.length === 0 ? null : round((server * 1000) / lat.length, 3),
  };
}

const rate = (r: LevelRun) => r.lat.length / r.seconds;
const cpuPerRelease = (r: LevelRun) => (r.serverCpuSeconds === null || r.lat.length === 0 ? null : r.serverCpuSeconds / r.lat.length);

/** Per-round ratios of a to b, then their median. */
function medianRatio(a: LevelRun[], b: LevelRun[], f: (r: LevelRun) => number | null): number | null {
  const ratios: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = f(a[i]!);
    const y = f(b[i]!);
    if (x === null || y === null || y === 0) return null;
    ratios.push(x / y);
  }
  return ratios.length ? round(median(ratios), 3) : null;
}

export interface ReleaseOptions {
  quick: boolean;
  /** Overrides, for profiling one level. */
  seconds?: number;
  rounds?: number;
  concurrencies?: number[];
  workerCounts?: number[];
  patterns?: ClientPattern[];
  /** false: leave out the two PostgreSQL replicas (the profile of one process). */
  replicas?: boolean;
  /**
   * Called after each measured level with its window (process.hrtime, ns: CLOCK_MONOTONIC, the clock of
   * V8's CPU profiles), so bench/profile-release.ts attributes only the measured releases.
   */
  onLevel?: (w: { workers: number; replicas: number; pattern: ClientPattern; concurrency: number; startNs: bigint; endNs: bigint; releases: number }) => void;
}

/** One release (challenge on the first port, attest on the last), opened: it must carry the stored secret. */
async function firstReleaseOpens(ca: Buffer, ports: number[], fleet: Fleet, serverHpke: Buffer, secretValue: Buffer): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, ca });
  const first = await release(agent, ports[0]!, fleet, ports.at(-1)!);
  agent.destroy();
  if (!first.ok || !first.reply || !first.nonce || !first.keys) throw new Error(`release bench: the first release failed (${first.code ?? 'unknown'})`);
  const sealed = (first.reply.json['secrets'] as Array<{ name: string; enc: string; ciphertext: string }>)[0]!;
  const value = openSecret({
    recipientPrivateKey: importP256PrivateKey(first.keys.getPrivateKey()),
    senderPublicKey: serverHpke,
    enc: Buffer.from(sealed.enc, 'base64'),
    name: sealed.name,
    nonce: first.nonce,
    ciphertext: Buffer.from(sealed.ciphertext, 'base64'),
  });
  if (!crypto.timingSafeEqual(value, secretValue)) throw new Error('release bench: the released secret does not match the stored one');
}

interface Target {
  workers: number;
  replicas: number;
  database: 'sqlite' | 'postgres';
  ports: number[];
  /** The processes whose CPU is the server's (for PostgreSQL, the replicas and the database). */
  pids: number[];
}

export async function benchRelease(o: ReleaseOptions): Promise<ReleaseResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-release-'));
  const children: ChildProcess[] = [];
  let pccs: Awaited<ReturnType<typeof startPccsServer>> | undefined;
  let cluster: Awaited<ReturnType<typeof startPgCluster>> | undefined;
  try {
    const dataDir = path.join(tmp, 'data');
    const policiesDir = path.join(tmp, 'policies');
    fs.mkdirSync(dataDir);
    fs.mkdirSync(policiesDir);
    const masterKey = crypto.randomBytes(32);
    const [pki, certs] = await Promise.all([SimPki.create(), createDevCerts(path.join(tmp, 'certs'), ['127.0.0.1'])]);
    const rootCaFile = path.join(tmp, 'root.pem');
    fs.writeFileSync(rootCaFile, pki.rootPem);
    pccs = await startPccsServer({ pki });
    fs.writeFileSync(
      path.join(policiesDir, 'bench.yaml'),
      ['name: bench', 'version: 1', 'match:', `  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}`, '    min_isvsvn: 1', 'tcb:', '  statuses: [UpToDate]', 'secrets:', `  - ${SECRET}`, ''].join('\n'),
    );
    // Store and keys made once here, so workers starting together find them.
    const secretValue = crypto.randomBytes(32);
    let serverHpke: Buffer;
    {
      const store = await openStore({ file: path.join(dataDir, 'warden.db') });
      await store.secrets(masterKey).create(SECRET, 'bytes', secretValue);
      const keys = store.keys(masterKey);
      serverHpke = (await keys.hpke()).publicKey;
      await keys.currentTokenKey();
      await store.close();
    }
    const prefilled = o.quick ? 200 : 86_400 * PREFILL_RELEASES_PER_SECOND;
    await prefill(dataDir, prefilled);

    // The fleet: distinct platforms over a few FMSPCs.
    const factory = await PlatformFactory.create(pki);
    const nPlatforms = o.quick ? 8 : 256;
    const fmspcs = Array.from({ length: o.quick ? 2 : 4 }, (_, i) => Buffer.from(`00906ed5${(0x10 + i).toString(16).padStart(4, '0')}`, 'hex'));
    const fleet = new Fleet(Array.from({ length: nPlatforms }, (_, i) => new PlatformQuote(factory.make(fmspcs[i % fmspcs.length]))));
    const ca = fs.readFileSync(certs.caCert);

    const seconds = o.seconds ?? (o.quick ? 0.3 : 3);
    const rounds = o.rounds ?? (o.quick ? 2 : 3);
    const maxReleases = o.quick ? 8 : Number.MAX_SAFE_INTEGER;
    const concurrencies = o.concurrencies ?? (o.quick ? [1, 4] : [1, 16, 64]);
    const workerCounts = o.workerCounts ?? (o.quick ? [1] : [1, Math.max(2, Math.min(os.cpus().length, 4))]);
    const patterns = o.patterns ?? ['keep-alive', 'connection-per-boot'];

    // Every server runs for the whole section; they take turns, so an idle one costs nothing.
    const targets: Target[] = [];
    for (const workers of workerCounts) {
      const { child, port } = await startServer({ dataDir, policiesDir, rootCaFile, pccsUrl: pccs.url, tlsKeyFile: certs.serverKey, tlsCertFile: certs.serverCert, workers }, masterKey);
      children.push(child);
      targets.push({ workers, replicas: 1, database: 'sqlite', ports: [port], pids: [child.pid!] });
    }
    // The first release of each is opened: what is measured is a real release of the stored secret.
    for (const t of targets) await firstReleaseOpens(ca, t.ports, fleet, serverHpke, secretValue);
    // Two replicas on one PostgreSQL (issue #15 item 5), with PostgreSQL's production defaults (fsync on).
    // Server CPU counts both replicas and every PostgreSQL process.
    let replicasSkipped: string | undefined = pgSkipReason() ?? undefined;
    if (o.replicas === false) replicasSkipped = 'not asked for';
    if (!replicasSkipped) {
      cluster = await startPgCluster({ durable: true });
      const databaseUrl = await cluster.createDatabase('warden');
      const store = await openStore({ url: databaseUrl, file: '' });
      await store.secrets(masterKey).create(SECRET, 'bytes', secretValue);
      const keys = store.keys(masterKey);
      // This database has its own server keys: the seal check opens with its HPKE key.
      const replicaHpke = (await keys.hpke()).publicKey;
      await keys.currentTokenKey();
      await store.close();
      const started = [];
      for (const name of ['a', 'b']) {
        const replicaData = path.join(tmp, `replica-${name}`);
        fs.mkdirSync(replicaData);
        const r = await startServer({ dataDir: replicaData, policiesDir, rootCaFile, pccsUrl: pccs.url, tlsKeyFile: certs.serverKey, tlsCertFile: certs.serverCert, workers: 1, databaseUrl }, masterKey);
        children.push(r.child);
        started.push(r);
      }
      const replicas: Target = { workers: 1, replicas: 2, database: 'postgres', ports: started.map((r) => r.port), pids: [...started.map((r) => r.child.pid!), cluster.pid()].filter((p): p is number => typeof p === 'number') };
      await firstReleaseOpens(ca, replicas.ports, fleet, replicaHpke, secretValue);
      targets.push(replicas);
    }
    {
      const { child, port } = await spawnListening(['--import', 'tsx', FLOOR_SCRIPT, certs.serverKey, certs.serverCert], process.env);
      children.push(child);
      targets.push({ workers: 0, replicas: 1, database: 'sqlite', ports: [port], pids: [child.pid!] });
    }
    const one = targets[0]!;
    const floorTarget = targets.at(-1)!;
    // Warm-up: JIT, TLS, collateral and every platform's PCK chain on every worker. By count first (each
    // platform at least twice per worker: on a loaded machine 1.5 s reached only part of the fleet, and its
    // first quotes, cold, were measured), then by time for the JIT.
    for (const t of targets) {
      if (!o.quick) await level(t.ports, ca, fleet, 8, 120, 2 * nPlatforms * Math.max(t.workers, t.replicas), 'keep-alive');
      await level(t.ports, ca, fleet, 8, o.quick ? 0.1 : 1, o.quick ? 4 : Number.MAX_SAFE_INTEGER, 'keep-alive');
    }

    const results: PatternResult[] = [];
    for (const pattern of patterns) {
      // A new TLS connection per boot: the workers' comparison and 64 clients' handshakes are left to keep-alive.
      const inTurn = pattern === 'keep-alive' ? targets : [one, floorTarget];
      const concs = pattern === 'keep-alive' ? concurrencies : concurrencies.filter((c) => c <= 16);
      const runs = new Map<Target, LevelRun[][]>(inTurn.map((t) => [t, concs.map(() => [])]));
      for (let ci = 0; ci < concs.length; ci++) {
        for (let r = 0; r < rounds; r++) {
          for (let k = 0; k < inTurn.length; k++) {
            const t = inTurn[(k + r) % inTurn.length]!;
            const startNs = process.hrtime.bigint();
            const run = await level(t.ports, ca, fleet, concs[ci]!, seconds, maxReleases, pattern, t.pids);
            o.onLevel?.({ workers: t.workers, replicas: t.replicas, pattern, concurrency: concs[ci]!, startNs, endNs: process.hrtime.bigint(), releases: run.lat.length });
            runs.get(t)![ci]!.push(run);
          }
        }
      }
      const of = (t: Target) => runs.get(t)!;
      results.push({
        pattern,
        modes: inTurn.filter((t) => t !== floorTarget).map((t) => ({ workers: t.workers, replicas: t.replicas, database: t.database, levels: concs.map((c, ci) => summarise(c, of(t)[ci]!)) })),
        floor: concs.map((c, ci) => summarise(c, of(floorTarget)[ci]!)),
        vsFloor: concs.map((c, ci) => ({
          concurrency: c,
          releasesRatio: medianRatio(of(one)[ci]!, of(floorTarget)[ci]!, rate) ?? 0,
          cpuPerReleaseRatio: medianRatio(of(one)[ci]!, of(floorTarget)[ci]!, cpuPerRelease),
          p99ms: round(percentile(of(one)[ci]!.flatMap((x) => x.lat), 99), 2),
          floorP99ms: round(percentile(of(floorTarget)[ci]!.flatMap((x) => x.lat), 99), 2),
          rounds,
        })),
        workersSpeedup: inTurn
          .filter((t) => t.workers > 1 && t.replicas === 1)
          .flatMap((t) => concs.map((c, ci) => ({ concurrency: c, workers: t.workers, ratio: medianRatio(of(t)[ci]!, of(one)[ci]!, rate) ?? 0 }))),
      });
    }
    const qe = await qeReportCache(one.ports[0]!, ca);
    const keepAlive = results.find((r) => r.pattern === 'keep-alive') ?? results[0]!;
    const at64 = keepAlive.modes.flatMap((m) => m.levels.filter((l) => l.concurrency === 64));
    const best = at64.sort((a, b) => b.releasesPerSecond - a.releasesPerSecond)[0];
    return {
      secondsPerRound: seconds,
      rounds,
      modes: keepAlive.modes,
      floor: keepAlive.floor,
      vsFloor: keepAlive.vsFloor,
      patterns: results,
      platforms: nPlatforms,
      fmspcs: fmspcs.length,
      prefilledAuditEntries: prefilled,
      qeReportCache: qe,
      sealedSecretOpened: true,
      ...(replicasSkipped ? { replicasSkipped } : {}),
      target: best ? { releasesPerSecondAt64: best.releasesPerSecond, p99msAt64: best.p99ms, met: best.releasesPerSecond >= 2500 && best.p99ms < 25 } : null,
    };
  } finally {
    await Promise.all(children.map(stopServer));
    cluster?.destroy();
    await pccs?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
