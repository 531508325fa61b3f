// Shared by the test/occlum-*.test.ts files: builds occlum-image/ once per toolchain (serialised with flock,
// since node --test runs files in parallel) and names the artefacts of each build.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..');
export const IMAGE_DIR = join(REPO, 'occlum-image');
export const WARDEN_BIN = join(REPO, 'bin', 'warden.js');
const LOCK = join(IMAGE_DIR, 'build', '.lock');

export type Toolchain = 'glibc' | 'musl';

/** One build of occlum-image/ (make glibc or make musl): the init and the test programs, with the harness
 *  built by the same toolchain, so that it can be preloaded into that init. */
export interface InitBuild {
  toolchain: Toolchain;
  dir: string;
  init: string;
  harness: string;
  hpkeVectors: string;
  hpkeOpen: string;
  /** Checks init/protocol.c and init/hpke.c against test/vectors/protocol-v1.json. */
  protocolVectors: string;
  sgxProbe: string;
  /** Why this build cannot run here (a test skips with this reason), or false. */
  skip: string | false;
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function initBuild(toolchain: Toolchain): InitBuild {
  const dir = join(IMAGE_DIR, 'build', toolchain);
  // The musl init is skipped only on a developer's machine without musl-gcc; CI (CI=true) installs
  // musl-tools, and there a missing musl-gcc fails the build instead of hiding it.
  const skip =
    toolchain === 'musl' && !process.env['CI'] && !onPath(process.env['MUSL_CC'] ?? 'musl-gcc')
      ? 'musl-gcc is not installed (apt-get install musl-tools, see occlum-image/musl/install-build-deps.sh): the musl init is not built or tested here'
      : false;
  return {
    toolchain,
    dir,
    init: join(dir, 'warden-init'),
    harness: join(dir, 'libwarden-harness.so'),
    hpkeVectors: join(dir, 'hpke_vectors'),
    hpkeOpen: join(dir, 'hpke_open'),
    protocolVectors: join(dir, 'protocol_vectors'),
    sgxProbe: join(dir, 'sgx_probe'),
    skip,
  };
}

export const GLIBC = initBuild('glibc');
export const MUSL = initBuild('musl');
/** Both inits: every boot test runs with each. */
export const INIT_BUILDS: readonly InitBuild[] = [GLIBC, MUSL];

/** Long enough for a first musl build, which compiles OpenSSL from Debian's source package (minutes). */
export const BUILD_TIMEOUT_MS = 20 * 60_000;

const built = new Set<Toolchain>();

/** Runs `make -C occlum-image glibc|musl` (a no-op when up to date); throws with the build's last lines on failure. */
export function buildOcclumImage(b: InitBuild = GLIBC): void {
  if (built.has(b.toolchain)) return;
  mkdirSync(join(IMAGE_DIR, 'build'), { recursive: true });
  try {
    execFileSync('flock', [LOCK, 'make', '-s', '-j2', '-C', IMAGE_DIR, b.toolchain], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    const out = `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`make -C occlum-image ${b.toolchain} failed:\n${out}`);
  }
  built.add(b.toolchain);
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
  /** What the call answered: 0 = mounted, 5 = EIO (a key the image was not built with), 1 = EPERM, 22 = EINVAL, ... */
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
 * Runs build.init with CONFIG under build.harness: quotes from quoteSocket (see startQuoteService) or
 * quoteCmd, syscall 363 calls logged to mountLog and returned, /dev/sgx ioctls to ioctlLog when given. env
 * may set WARDEN_HARNESS_MOUNT_KEY (hex of the key the image was built with: any other key gets EIO),
 * WARDEN_HARNESS_MOUNT_FAIL, WARDEN_HARNESS_OCCLUM, WARDEN_HARNESS_QUOTE_BUSY, WARDEN_HARNESS_QUOTE_NOT_READY
 * (see occlum-image/test/harness.c).
 */
export async function runInitUnderHarness(o: {
  build: InitBuild;
  config: string;
  mountLog: string;
  ioctlLog?: string;
  /** WARDEN_HARNESS_NET_LOG: connects, TCP_NODELAY and socket writes (see readNetLog). */
  netLog?: string;
  quoteSocket?: string;
  quoteCmd?: string;
  env?: Record<string, string>;
}): Promise<HarnessRun> {
  const { spawn } = await import('node:child_process');
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LD_PRELOAD: o.build.harness, WARDEN_HARNESS_MOUNT_LOG: o.mountLog };
  if (o.ioctlLog) env['WARDEN_HARNESS_IOCTL_LOG'] = o.ioctlLog;
  if (o.netLog) env['WARDEN_HARNESS_NET_LOG'] = o.netLog;
  if (o.quoteSocket) env['WARDEN_HARNESS_QUOTE_SOCKET'] = o.quoteSocket;
  if (o.quoteCmd) env['WARDEN_HARNESS_QUOTE_CMD'] = o.quoteCmd;
  let stdout = '';
  let stderr = '';
  const startedAtNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  // Asynchronous: a quote socket may be served by this very process.
  const child = spawn(o.build.init, [o.config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...o.env } });
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

/** Errno values as Occlum and Linux x86-64 number them (what the tests compare, never strerror texts). */
export const ERRNO = { EPERM: 1, ENOENT: 2, EIO: 5, EACCES: 13, EINVAL: 22, ECONNREFUSED: 111 } as const;

/** The /dev/sgx ioctls the harness saw (WARDEN_HARNESS_IOCTL_LOG). */
export function readIoctlLog(file: string): Array<{ ioctl: 'size' | 'gen' | 'other'; errno: number }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const m = JSON.parse(l) as { ioctl: 'size' | 'gen' | 'other'; errno: number };
      return { ioctl: m.ioctl, errno: m.errno };
    });
}

/** What the init did on the network (WARDEN_HARNESS_NET_LOG): TCP connects, TCP_NODELAY and socket writes. */
export function readNetLog(file: string): Array<{ call: 'connect' | 'nodelay' | 'write'; fd: number; value: number }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { call: 'connect' | 'nodelay' | 'write'; fd: number; value: number });
}

/** A running `warden serve --dev` on a loopback port, as an operator starts it. */
export interface DevServe {
  url: string;
  /** The CA an image pins (`caFile`), as the server announced it. */
  caFile: string;
  /** The HPKE public key it announced (base64). */
  hpkeKey: string;
  /** Everything it printed so far. */
  output(): string;
  getJson(path: string): Promise<unknown>;
  stop(): Promise<void>;
}

/** Starts `warden serve --dev` and waits for its start-up lines (URL, HPKE key, CA); rejects if it exits first. */
export async function startDevServe(o: { data: string; policies: string; certs: string }): Promise<DevServe> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [WARDEN_BIN, 'serve', '--dev', '--data', o.data, '--policies', o.policies, '--certs', o.certs, '--host', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  const started = await new Promise<{ url: string; hpkeKey: string; caFile: string }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      out += d.toString();
      // Whole lines only, in any order.
      const line = (re: RegExp) => re.exec(stdout)?.[1];
      const [url, hpkeKey, caFile] = [line(/^warden listening on (https:\/\/\S+)\n/m), line(/^HPKE public key[^:\n]*: (\S+)\n/m), line(/^TLS CA certificate for clients: (\S+)\n/m)];
      if (url && hpkeKey && caFile) resolve({ url, hpkeKey, caFile });
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`warden serve exited ${code}: ${out}`)));
  });
  const ca = readFileSync(started.caFile);
  return {
    ...started,
    output: () => out,
    getJson: (path) => getJson(`${started.url}${path}`, ca),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** GET a JSON document from a test server over HTTPS, trusting only its CA. */
export function getJson(url: string, ca: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      })
      .on('error', reject);
  });
}
