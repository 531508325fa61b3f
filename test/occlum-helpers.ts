// Shared by the test/occlum-*.test.ts files: builds occlum-image/ once (serialised with flock, since
// node --test runs files in parallel) and names the artefacts.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..');
export const IMAGE_DIR = join(REPO, 'occlum-image');
export const BUILD_DIR = join(IMAGE_DIR, 'build');
export const INIT_BIN = join(BUILD_DIR, 'warden-init');
export const HARNESS_LIB = join(BUILD_DIR, 'libwarden-harness.so');
export const HPKE_VECTORS_BIN = join(BUILD_DIR, 'hpke_vectors');
export const HPKE_OPEN_BIN = join(BUILD_DIR, 'hpke_open');
export const WARDEN_BIN = join(REPO, 'bin', 'warden.js');

let built = false;

/** Runs `make -C occlum-image` (a no-op when up to date); throws with the compiler output on failure. */
export function buildOcclumImage(): void {
  if (built) return;
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('flock', [join(BUILD_DIR, '.lock'), 'make', '-s', '-j2', '-C', IMAGE_DIR], { stdio: ['ignore', 'pipe', 'pipe'] });
  built = true;
}

/** The simulated enclave a quote service signs for. */
export interface SimEnclave {
  mrEnclave?: Buffer;
  mrSigner?: Buffer;
  isvProdId?: number;
  isvSvn?: number;
  debug?: boolean;
}

export interface QuoteService {
  /** A Unix socket (for WARDEN_HARNESS_QUOTE_SOCKET) that answers with quotes for this enclave. */
  socketFor(enclave: SimEnclave): Promise<string>;
  close(): Promise<void>;
}

/**
 * Serves quotes of the simulated quoting enclave (src/sim, the PKI in pkiDir, which `warden serve --dev`
 * trusts as DATA/sim-pki) over Unix sockets in dir: request = 64 bytes of report data, answer = u32 LE
 * length + quote. Spares a Node start per quote, e.g. for benchmarks of the init.
 */
export async function startQuoteService(pkiDir: string, dir: string): Promise<QuoteService> {
  const net = await import('node:net');
  const { loadOrCreateSimPki } = await import('../src/cli/sim.ts');
  const { makeQuote } = await import('../src/sim/quote.ts');
  const pki = await loadOrCreateSimPki(pkiDir);
  const platform = await pki.platform({ ca: 'processor' });
  const servers: import('node:net').Server[] = [];
  return {
    async socketFor(enclave) {
      const path = join(dir, `quote-${servers.length}.sock`);
      const server = net.createServer((conn) => {
        let got = Buffer.alloc(0);
        conn.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length < 64) return;
          const quote = makeQuote({ platform, report: { ...enclave, reportData: got.subarray(0, 64) } });
          const len = Buffer.alloc(4);
          len.writeUInt32LE(quote.length);
          conn.end(Buffer.concat([len, quote]));
        });
        conn.on('error', () => conn.destroy());
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
      return path;
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

export interface HarnessMount {
  key: string | null;
  rootfsConfig: string | null;
  /** CLOCK_REALTIME of the syscall 363 call. */
  unixNanos: bigint;
  /** What the call answered: 0 = mounted, 13 = EACCES (a key the image was not built with), 1 = EPERM, ... */
  errno: number;
}

export interface HarnessRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time just before the init was started; mounts[0].unixNanos - startedAtNs = start-to-mount. */
  startedAtNs: bigint;
  mounts: HarnessMount[];
}

/**
 * Runs occlum-image/build/warden-init with CONFIG under the harness: quotes from quoteSocket (see
 * startQuoteService) or quoteCmd, syscall 363 calls logged to mountLog and returned. env may set
 * WARDEN_HARNESS_MOUNT_KEY (hex of the key the image was built with: any other key gets EACCES),
 * WARDEN_HARNESS_MOUNT_FAIL, WARDEN_HARNESS_QUOTE_BUSY.
 */
export async function runInitUnderHarness(o: { config: string; mountLog: string; quoteSocket?: string; quoteCmd?: string; env?: Record<string, string> }): Promise<HarnessRun> {
  const { spawn } = await import('node:child_process');
  const { existsSync, readFileSync } = await import('node:fs');
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LD_PRELOAD: HARNESS_LIB, WARDEN_HARNESS_MOUNT_LOG: o.mountLog };
  if (o.quoteSocket) env['WARDEN_HARNESS_QUOTE_SOCKET'] = o.quoteSocket;
  if (o.quoteCmd) env['WARDEN_HARNESS_QUOTE_CMD'] = o.quoteCmd;
  let stdout = '';
  let stderr = '';
  const startedAtNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  // Asynchronous: a quote socket may be served by this very process.
  const child = spawn(INIT_BIN, [o.config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...o.env } });
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const mounts = existsSync(o.mountLog)
    ? readFileSync(o.mountLog, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const m = JSON.parse(l) as { key: string | null; rootfsConfig: string | null; errno: number };
          // unixNanos exceeds 2^53: read its digits, not the JSON number.
          return { key: m.key, rootfsConfig: m.rootfsConfig, unixNanos: BigInt(/"unixNanos":(\d+)/.exec(l)?.[1] ?? '0'), errno: m.errno };
        })
    : [];
  return { status, stdout, stderr, startedAtNs, mounts };
}
