// The key-release benchmark's parts (bench/release.ts drives them): the fleet of enclaves and their quotes,
// the HTTPS client, the history pre-filled into the database, the servers as processes, and /metrics reads.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedReportData } from '../src/protocol/wire.ts';
import { SIM_ENCLAVE, buildQuote, signRaw, type SimPlatform } from '../src/sim/index.ts';
import { openStore } from '../src/store/store.ts';
import { round } from './measure.ts';

const WARDEN_BIN = fileURLToPath(new URL('../bin/warden.js', import.meta.url));
/** The master key travels in the environment, never on the command line. */
const MASTER_KEY_ENV = 'WARDEN_BENCH_MASTER_KEY';
export const SECRET = 'bench-key';
const REPORT_DATA_OFFSET = 320; // in the report body

/** A platform's quote, built once; each release patches REPORTDATA and re-signs header+body. */
export class PlatformQuote {
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

  quoteFor(nonce: Buffer, pkE: Buffer): string {
    expectedReportData(nonce, pkE).copy(this.quote, this.bodyAt + REPORT_DATA_OFFSET);
    signRaw(this.quote.subarray(0, this.signedEnd), this.platform.attestationKey).copy(this.quote, this.sigAt);
    return this.quote.toString('base64');
  }
}

/** The enclaves of the fleet: releases take their platforms in turn; every release makes a fresh key, as a boot does. */
export class Fleet {
  private next = 0;
  constructor(private readonly quotes: PlatformQuote[]) {}

  boot(): { quote: PlatformQuote; keys: crypto.ECDH; pkE: Buffer } {
    const quote = this.quotes[this.next++ % this.quotes.length]!;
    const keys = crypto.createECDH('prime256v1');
    return { quote, keys, pkE: keys.generateKeys() };
  }
}

export interface Reply {
  status: number;
  json: Record<string, unknown>;
}

export function post(agent: https.Agent, port: number, p: string, body: unknown): Promise<Reply> {
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

export interface Outcome {
  ok: boolean;
  ms: number;
  code?: string;
  nonce?: Buffer;
  reply?: Reply;
  keys?: crypto.ECDH;
}

export async function release(agent: https.Agent, port: number, fleet: Fleet, attestPort = port): Promise<Outcome> {
  const t0 = process.hrtime.bigint();
  try {
    const ch = await post(agent, port, '/v1/challenge', {});
    if (ch.status !== 200 || typeof ch.json['nonce'] !== 'string') return { ok: false, ms: 0, code: `challenge ${ch.status}` };
    const nonceB64 = ch.json['nonce'];
    const nonce = Buffer.from(nonceB64, 'base64');
    const boot = fleet.boot();
    const r = await post(agent, attestPort, '/v1/attest', { nonce: nonceB64, quote: boot.quote.quoteFor(nonce, boot.pkE), publicKey: boot.pkE.toString('base64'), secrets: [SECRET] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 200) return { ok: false, ms, code: `attest ${r.status} ${String((r.json['error'] as { code?: string } | undefined)?.code ?? '')}` };
    return { ok: true, ms, nonce, reply: r, keys: boot.keys };
  } catch (e) {
    return { ok: false, ms: 0, code: (e as NodeJS.ErrnoException).code ?? 'error' };
  }
}

export interface ServerSetup {
  dataDir: string;
  policiesDir: string;
  rootCaFile: string;
  pccsUrl: string;
  tlsKeyFile: string;
  tlsCertFile: string;
  workers: number;
}

/** `warden serve` as an operator starts it; resolves once it announces its port. */
export async function startServer(c: ServerSetup & { databaseUrl?: string }, masterKey: Buffer): Promise<{ child: ChildProcess; port: number }> {
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
export async function spawnListening(argv: string[], env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
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

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}


/** "A day" of history before the first measured release: a fleet booting this many enclaves a second. */
export const PREFILL_RELEASES_PER_SECOND = 2;

/**
 * A day of attestation history at PREFILL_RELEASES_PER_SECOND: audit entries shaped like the server's. (Spent
 * nonces are not pre-filled: the store keeps a consumed nonce only until it expires, 120 s, so a day of them is
 * never more than that window's worth, and the server's own releases make it.)
 */
export async function prefill(dataDir: string, entries: number): Promise<void> {
  const store = await openStore({ file: path.join(dataDir, 'warden.db') });
  try {
    for (let i = 0; i < entries; i += 5_000) {
      const batch: Array<Promise<unknown>> = [];
      for (let k = i; k < Math.min(entries, i + 5_000); k++) {
        batch.push(
          store.audit.append({
            type: 'attestation',
            outcome: 'allowed',
            data: {
              client: `10.0.${(k >> 8) & 255}.${k & 255}`,
              requested: [SECRET],
              serverKeyId: crypto.randomBytes(32).toString('hex'),
              mrenclave: SIM_ENCLAVE.mrEnclave.toString('hex'),
              mrsigner: crypto.randomBytes(32).toString('hex'),
              isvprodid: 0,
              isvsvn: 1,
              tcbStatus: 'UpToDate',
              policySetHash: crypto.randomBytes(32).toString('hex'),
              released: [{ name: SECRET, version: 1, policy: 'bench', policyVersion: 1 }],
            },
          }),
        );
      }
      await Promise.all(batch);
    }
  } finally {
    await store.close();
  }
}

export function getText(agent: https.Agent, port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      })
      .on('error', reject);
  });
}

/** The QE-report signature cache's counters from a server's /metrics. */
export async function qeReportCache(port: number, ca: Buffer): Promise<{ hits: number; misses: number; hitRate: number } | null> {
  const agent = new https.Agent({ ca });
  try {
    const text = await getText(agent, port, '/metrics');
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    const hits = value('warden_qe_report_signature_cache_hits_total');
    const misses = value('warden_qe_report_signature_cache_misses_total');
    if (!Number.isFinite(hits) || !Number.isFinite(misses)) return null;
    return { hits, misses, hitRate: hits + misses ? round(hits / (hits + misses), 4) : 0 };
  } finally {
    agent.destroy();
  }
}

