// Section 2: key release over HTTPS on loopback. Closed-loop clients, each doing what a booting
// enclave does: POST /v1/challenge, a quote binding the nonce and its key, POST /v1/attest, and
// getting one HPKE-sealed secret. Measured per release (challenge start to attest response).
//
// The server is the real `warden serve` an operator runs (not --dev: no response validation), with a
// test root (--root-ca) and collateral from a simulated PCCS (--pccs) served by this process, rate
// limits raised out of the way and request logging at warn; the cluster mode is `--workers N`.
// Besides throughput and latency it reports the server's CPU time per release (all its processes,
// from /proc), which a loaded, shared machine changes far less than the rates.
//
// The client's quote costs one SHA-256 and one ECDSA signature per release: each client builds its
// quote once, then per nonce patches REPORTDATA and re-signs header+body with the attestation key
// (the QE report signature does not cover the enclave's report data, so it stays valid).
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyBytes } from '../src/crypto/p256.ts';
import { openSecret } from '../src/secrets/sealing.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { expectedReportData } from '../src/protocol/wire.ts';
import { SIM_ENCLAVE, SimPki, buildQuote, signRaw, type SimPlatform } from '../src/sim/index.ts';
import { startPccsServer } from '../src/sim/pccs-server.ts';
import { openStore } from '../src/store/store.ts';
import { pgSkipReason, startPgCluster } from '../test/helpers/postgres.ts';
import { median, percentile, round, treesCpuSeconds } from './measure.ts';

const WARDEN_BIN = fileURLToPath(new URL('../bin/warden.js', import.meta.url));
const FLOOR_SCRIPT = fileURLToPath(new URL('./release-floor.ts', import.meta.url));
/** The master key travels in the environment, never on the command line. */
const MASTER_KEY_ENV = 'WARDEN_BENCH_MASTER_KEY';
const SECRET = 'bench-key';
const REPORT_DATA_OFFSET = 320; // in the report body

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
  levels: ReleaseLevel[];
}

export interface ReleaseResult {
  secondsPerLevel: number;
  modes: ReleaseMode[];
  /** The same load against bench/release-floor.ts: HTTPS and Fastify alone, none of Warden's work. */
  floor: ReleaseLevel[];
  /** The first release of the run was opened and matched the stored secret. */
  sealedSecretOpened: boolean;
  target: { releasesPerSecondAt64: number; p99msAt64: number; met: boolean } | null;
  /** Why the two-replica PostgreSQL mode was not measured, when it was not. */
  replicasSkipped?: string;
}

class Client {
  readonly keys = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  readonly pkE = publicKeyBytes(this.keys.publicKey);
  readonly pkB64 = this.pkE.toString('base64');
  private readonly quote: Buffer;
  private readonly bodyAt: number;
  private readonly sigAt: number;
  private readonly signedEnd: number;

  constructor(private readonly platform: SimPlatform) {
    const { quote, layout } = buildQuote({ platform, report: { ...SIM_ENCLAVE, isvSvn: 1, reportData: Buffer.alloc(64) } });
    this.quote = quote;
    this.bodyAt = layout.body;
    this.sigAt = layout.isvSignature;
    this.signedEnd = layout.signatureDataLength;
  }

  quoteFor(nonce: Buffer): string {
    expectedReportData(nonce, this.pkE).copy(this.quote, this.bodyAt + REPORT_DATA_OFFSET);
    signRaw(this.quote.subarray(0, this.signedEnd), this.platform.attestationKey).copy(this.quote, this.sigAt);
    return this.quote.toString('base64');
  }
}

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

function post(agent: https.Agent, port: number, p: string, body: unknown): Promise<Reply> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: p, method: body === undefined ? 'GET' : 'POST', agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          } catch {
            // not JSON: counted as a failure by status
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface Outcome {
  ok: boolean;
  ms: number;
  code?: string;
  nonce?: Buffer;
  reply?: Reply;
}

async function release(agent: https.Agent, port: number, c: Client, attestPort = port): Promise<Outcome> {
  const t0 = process.hrtime.bigint();
  try {
    const ch = await post(agent, port, '/v1/challenge', {});
    if (ch.status !== 200 || typeof ch.json['nonce'] !== 'string') return { ok: false, ms: 0, code: `challenge ${ch.status}` };
    const nonceB64 = ch.json['nonce'];
    const nonce = Buffer.from(nonceB64, 'base64');
    const r = await post(agent, attestPort, '/v1/attest', { nonce: nonceB64, quote: c.quoteFor(nonce), publicKey: c.pkB64, secrets: [SECRET] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 200) return { ok: false, ms, code: `attest ${r.status} ${String((r.json['error'] as { code?: string } | undefined)?.code ?? '')}` };
    return { ok: true, ms, nonce, reply: r };
  } catch (e) {
    return { ok: false, ms: 0, code: (e as NodeJS.ErrnoException).code ?? 'error' };
  }
}

/**
 * Closed loop: `concurrency` clients, each starting its next release when the last one ends. With several
 * ports (replicas), each release asks for its challenge on one and attests on the next, in turn.
 */
async function level(ports: number | number[], ca: Buffer, clients: Client[], concurrency: number, seconds: number, maxReleases: number, serverPid?: number | number[]): Promise<ReleaseLevel> {
  const portList = Array.isArray(ports) ? ports : [ports];
  const pids = serverPid === undefined ? [] : Array.isArray(serverPid) ? serverPid : [serverPid];
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency * portList.length, ca });
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
      const c = clients[k % clients.length]!;
      let turn = k;
      while (Date.now() < deadline && started < maxReleases) {
        started++;
        turn++;
        const o = await release(agent, portList[turn % portList.length]!, c, portList[(turn + 1) % portList.length]!);
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
  const serverSeconds = server0 === null || server1 === null ? null : server1 - server0;
  agent.destroy();
  return {
    concurrency,
    releases: lat.length,
    failures,
    failureCodes,
    seconds: round(elapsed, 2),
    releasesPerSecond: Math.round(lat.length / elapsed),
    p50ms: round(median(lat), 2),
    p99ms: round(percentile(lat, 99), 2),
    clientCpu: round((cpu.user + cpu.system) / 1e6 / elapsed, 2),
    serverCpu: serverSeconds === null ? null : round(serverSeconds / elapsed, 2),
    serverCpuMsPerRelease: serverSeconds === null || lat.length === 0 ? null : round((serverSeconds * 1000) / lat.length, 3),
  };
}

interface ServerSetup {
  dataDir: string;
  policiesDir: string;
  rootCaFile: string;
  pccsUrl: string;
  tlsKeyFile: string;
  tlsCertFile: string;
  workers: number;
}

/** `warden serve` as an operator starts it; resolves once it announces its port. */
async function startServer(c: ServerSetup & { databaseUrl?: string }, masterKey: Buffer): Promise<{ child: ChildProcess; port: number }> {
  // WARDEN_BENCH_SERVER_PROF=DIR: the server (each worker) writes a CPU profile there when it stops.
  const prof = process.env['WARDEN_BENCH_SERVER_PROF'];
  const flags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const args = [
    'serve',
    ...['--host', '127.0.0.1', '--port', '0', '--data', c.dataDir, '--policies', c.policiesDir],
    ...['--root-ca', c.rootCaFile, '--pccs', c.pccsUrl, '--tls-cert', c.tlsCertFile, '--tls-key', c.tlsKeyFile],
    // WARDEN_BENCH_LOG_LEVEL=info measures the cost of per-request logging (the default is warn).
    ...['--master-key-env', MASTER_KEY_ENV, '--log-level', process.env['WARDEN_BENCH_LOG_LEVEL'] ?? 'warn', '--rate-burst', '1000000', '--rate-per-second', '1000000'],
    ...(c.workers > 1 ? ['--workers', String(c.workers)] : []),
    ...(c.databaseUrl ? ['--database', c.databaseUrl] : []),
  ];
  return spawnListening([...flags, WARDEN_BIN, ...args], { ...process.env, [MASTER_KEY_ENV]: masterKey.toString('hex') });
}

/** Spawns node with `argv` and resolves with the port once it prints `warden listening on https://...:PORT`. */
async function spawnListening(argv: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    let listening = false;
    child.stdout?.on('data', (d: Buffer) => {
      if (listening) return; // request logs (WARDEN_BENCH_LOG_LEVEL=info) are read and dropped
      out += d.toString();
      const m = /warden listening on https:\/\/[^\s]+:(\d+)/.exec(out);
      if (m) {
        listening = true;
        resolve(Number(m[1]));
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4096)));
    child.once('exit', (code) => reject(new Error(`${path.basename(argv.find((a) => a.endsWith('.js') || a.endsWith('.ts')) ?? 'server')} exited ${code}: ${err.trim().split('\n').pop() ?? ''}`)));
  });
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** One release (challenge on one port, attest on the other), opened: it must carry the stored secret. */
async function firstReleaseOpens(ca: Buffer, port: number, attestPort: number, c: Client, serverHpke: Buffer, secretValue: Buffer): Promise<true> {
  const agent = new https.Agent({ keepAlive: true, ca });
  const first = await release(agent, port, c, attestPort);
  agent.destroy();
  if (!first.ok || !first.reply || !first.nonce) throw new Error(`release bench: the first release failed (${first.code ?? 'unknown'})`);
  const sealed = (first.reply.json['secrets'] as Array<{ name: string; enc: string; ciphertext: string }>)[0]!;
  const value = openSecret({
    recipientPrivateKey: c.keys.privateKey,
    senderPublicKey: serverHpke,
    enc: Buffer.from(sealed.enc, 'base64'),
    name: sealed.name,
    nonce: first.nonce,
    ciphertext: Buffer.from(sealed.ciphertext, 'base64'),
  });
  if (!crypto.timingSafeEqual(value, secretValue)) throw new Error('release bench: the released secret does not match the stored one');
  return true;
}

export interface ReleaseOptions {
  quick: boolean;
  /** Overrides, for profiling one level. */
  seconds?: number;
  concurrencies?: number[];
  workerCounts?: number[];
}

export async function benchRelease(o: ReleaseOptions): Promise<ReleaseResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-release-'));
  const children: ChildProcess[] = [];
  let pccs: Awaited<ReturnType<typeof startPccsServer>> | undefined;
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
    const platform = await pki.platform({});
    const clients = Array.from({ length: 64 }, () => new Client(platform));
    const ca = fs.readFileSync(certs.caCert);

    const seconds = o.seconds ?? (o.quick ? 0.3 : 6);
    const maxReleases = o.quick ? 8 : Number.MAX_SAFE_INTEGER;
    const concurrencies = o.concurrencies ?? (o.quick ? [1, 4] : [1, 16, 64]);
    const workerCounts = o.workerCounts ?? (o.quick ? [1] : [1, Math.max(2, Math.min(os.cpus().length, 4))]);
    const modes: ReleaseMode[] = [];
    let opened = false;
    for (const workers of workerCounts) {
      const { child, port } = await startServer({ dataDir, policiesDir, rootCaFile, pccsUrl: pccs.url, tlsKeyFile: certs.serverKey, tlsCertFile: certs.serverCert, workers }, masterKey);
      children.push(child);
      // The first release is opened: what is measured is a real release of the stored secret.
      opened = await firstReleaseOpens(ca, port, port, clients[0]!, serverHpke, secretValue);
      // Warm-up: JIT, TLS sessions, collateral on every worker.
      await level(port, ca, clients, 8, o.quick ? 0.1 : 1.5, o.quick ? 4 : Number.MAX_SAFE_INTEGER);
      const levels: ReleaseLevel[] = [];
      for (const c of concurrencies) levels.push(await level(port, ca, clients, c, seconds, maxReleases, child.pid));
      modes.push({ workers, replicas: 1, database: 'sqlite', levels });
      await stopServer(child);
    }
    // Two replicas on one PostgreSQL (issue #15 item 5), with PostgreSQL's production defaults (fsync on).
    // Server CPU counts both replicas and every PostgreSQL process.
    let replicasSkipped: string | undefined;
    const pgWhy = pgSkipReason();
    if (pgWhy) replicasSkipped = pgWhy;
    else {
      const cluster = await startPgCluster({ durable: true });
      try {
        const databaseUrl = await cluster.createDatabase('warden');
        const store = await openStore({ url: databaseUrl, file: '' });
        await store.secrets(masterKey).create(SECRET, 'bytes', secretValue);
        const keys = store.keys(masterKey);
        // This database has its own server keys: the seal check below opens with its HPKE key.
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
        const ports = started.map((r) => r.port);
        await firstReleaseOpens(ca, ports[0]!, ports[1]!, clients[0]!, replicaHpke, secretValue);
        await level(ports, ca, clients, 8, o.quick ? 0.1 : 1.5, o.quick ? 4 : Number.MAX_SAFE_INTEGER);
        const pids = [...started.map((r) => r.child.pid!), cluster.pid()].filter((p): p is number => typeof p === 'number');
        const levels: ReleaseLevel[] = [];
        for (const c of concurrencies) levels.push(await level(ports, ca, clients, c, seconds, maxReleases, pids));
        modes.push({ workers: 1, replicas: 2, database: 'postgres', levels });
        for (const r of started) await stopServer(r.child);
      } finally {
        cluster.destroy();
      }
    }
    // The transport floor, one process, same clients and levels.
    const floor: ReleaseLevel[] = [];
    {
      const { child, port } = await spawnListening(['--import', 'tsx', FLOOR_SCRIPT, certs.serverKey, certs.serverCert], process.env);
      children.push(child);
      await level(port, ca, clients, 8, o.quick ? 0.1 : 1.5, o.quick ? 4 : Number.MAX_SAFE_INTEGER);
      for (const c of concurrencies) floor.push(await level(port, ca, clients, c, seconds, maxReleases, child.pid));
      await stopServer(child);
    }
    const at64 = modes.flatMap((m) => m.levels.filter((l) => l.concurrency === 64));
    const best = at64.sort((a, b) => b.releasesPerSecond - a.releasesPerSecond)[0];
    return {
      secondsPerLevel: seconds,
      modes,
      floor,
      sealedSecretOpened: opened,
      ...(replicasSkipped ? { replicasSkipped } : {}),
      target: best ? { releasesPerSecondAt64: best.releasesPerSecond, p99msAt64: best.p99ms, met: best.releasesPerSecond >= 2500 && best.p99ms < 25 } : null,
    };
  } finally {
    await Promise.all(children.map(stopServer));
    await pccs?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
