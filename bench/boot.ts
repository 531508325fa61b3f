// Section 3: boot. The real enclave-side init (occlum-image/build/glibc/warden-init, and the musl one that
// Occlum's default initfs runs when it is built) under the LD_PRELOAD harness that stands in for Occlum's
// /dev/sgx and syscall 363, against the bench's Warden over HTTPS. Measured: from just before the init is
// started to its mount call (the harness logs the mount with a CLOCK_REALTIME timestamp), p50 over
// repeated runs, the two inits alternating run by run. Quotes come from a Unix socket served here (the
// harness's socket source), so no Node process start is counted per quote.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { SIM_ENCLAVE, SimPki, makeQuote, type SimPlatform } from '../src/sim/index.ts';
import { openStore } from '../src/store/store.ts';
import { median, percentile, round } from './measure.ts';
import { MASTER_KEY_ENV, type ReleaseServerConfig } from './release-server.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGE_DIR = path.join(REPO, 'occlum-image');
const BUILD_DIR = path.join(IMAGE_DIR, 'build');
type Toolchain = 'glibc' | 'musl';
const initBin = (t: Toolchain) => path.join(BUILD_DIR, t, 'warden-init');
const harnessLib = (t: Toolchain) => path.join(BUILD_DIR, t, 'libwarden-harness.so');
const SERVER_SCRIPT = fileURLToPath(new URL('./release-server.ts', import.meta.url));

interface BootTimes {
  p50ms: number;
  p90ms: number;
  minms: number;
  maxms: number;
}

/** The glibc init's numbers at the top level; the musl init's under `musl` when it is built. */
export type BootResult =
  | ({ available: true; runs: number; quoteSource: 'socket'; init: 'glibc'; musl: BootTimes | { available: false; reason: string } } & BootTimes)
  | { available: false; reason: string };

/** Builds an init the way the occlum tests do (make is a no-op when up to date). The musl build is used
 *  only when it is there already: the bench does not start a first OpenSSL build of several minutes. */
function build(t: Toolchain): string | null {
  if (!fs.existsSync(path.join(IMAGE_DIR, 'Makefile'))) return 'occlum-image/Makefile is not in this tree';
  if (t === 'musl' && !fs.existsSync(path.join(BUILD_DIR, 'musl', 'openssl', 'libcrypto.a'))) return 'not built (make -C occlum-image musl)';
  try {
    fs.mkdirSync(BUILD_DIR, { recursive: true });
    execFileSync('flock', [path.join(BUILD_DIR, '.lock'), 'make', '-s', '-j2', '-C', IMAGE_DIR, t], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message?: string };
    return `building occlum-image ${t} failed: ${(err.stderr?.toString().trim().split('\n').pop() ?? err.message ?? '').slice(0, 200)}`;
  }
  if (!fs.existsSync(initBin(t)) || !fs.existsSync(harnessLib(t))) return `occlum-image ${t} build gave no warden-init or harness library`;
  return null;
}

function times(ms: number[]): BootTimes {
  return { p50ms: round(median(ms), 2), p90ms: round(percentile(ms, 90), 2), minms: round(Math.min(...ms), 2), maxms: round(Math.max(...ms), 2) };
}

/** The harness's socket protocol: 64 bytes of report data in, u32 LE length and the quote out. */
function quoteServer(socketPath: string, platform: SimPlatform, report: Parameters<typeof makeQuote>[0]['report']): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 64) return;
      const quote = makeQuote({ platform, report: { ...report, reportData: buf.subarray(0, 64) } });
      const len = Buffer.alloc(4);
      len.writeUInt32LE(quote.length);
      sock.end(Buffer.concat([len, quote]));
      buf = Buffer.alloc(0);
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

function runInit(t: Toolchain, configFile: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(initBin(t), [configFile], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LD_PRELOAD: harnessLib(t), ...env } }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) });
    });
    void child;
  });
}

export interface BootOptions {
  quick: boolean;
}

export async function benchBoot(o: BootOptions): Promise<BootResult> {
  const why = build('glibc');
  if (why) return { available: false, reason: why };
  const muslWhy = build('musl');
  const toolchains: Toolchain[] = muslWhy ? ['glibc'] : ['glibc', 'musl'];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-boot-'));
  let server: ChildProcess | undefined;
  let quotes: net.Server | undefined;
  try {
    const dataDir = path.join(tmp, 'data');
    const policiesDir = path.join(tmp, 'policies');
    fs.mkdirSync(dataDir);
    fs.mkdirSync(policiesDir);
    const masterKey = crypto.randomBytes(32);
    const [pki, certs] = await Promise.all([SimPki.create(), createDevCerts(path.join(tmp, 'certs'), ['127.0.0.1'])]);
    const pkiFile = path.join(tmp, 'sim-pki.json');
    fs.writeFileSync(pkiFile, JSON.stringify(pki.toJSON()), { mode: 0o600 });
    fs.writeFileSync(
      path.join(policiesDir, 'boot.yaml'),
      ['name: boot', 'version: 1', 'match:', `  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}`, '    min_isvsvn: 1', 'tcb:', '  statuses: [UpToDate]', 'secrets:', '  - app-image-key', '  - app-db-password', ''].join('\n'),
    );
    let hpkePublic: Buffer;
    {
      const store = await openStore({ file: path.join(dataDir, 'warden.db') });
      const secrets = store.secrets(masterKey);
      await secrets.create('app-image-key', 'sefs-key');
      await secrets.create('app-db-password', 'bytes', crypto.randomBytes(24));
      hpkePublic = (await store.keys(masterKey).hpke()).publicKey;
      await store.close();
    }
    const config: ReleaseServerConfig = { dataDir, policiesDir, pkiFile, tlsKeyFile: certs.serverKey, tlsCertFile: certs.serverCert };
    server = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, [MASTER_KEY_ENV]: masterKey.toString('hex') },
    });
    const s = server;
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      s.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      s.once('exit', (code) => reject(new Error(`boot bench server exited ${code}`)));
    });
    const platform = await pki.platform({});
    const socketPath = path.join(tmp, 'quote.sock');
    quotes = await quoteServer(socketPath, platform, { ...SIM_ENCLAVE, isvSvn: 1 });

    const runs = o.quick ? 2 : 21;
    const measured: Record<Toolchain, number[]> = { glibc: [], musl: [] };
    for (let i = 0; i < runs + 1; i++) {
      for (const t of toolchains) {
        const out = path.join(tmp, `rootfs-${t}-${i}`);
        const mountLog = path.join(tmp, `mount-${t}-${i}.log`);
        const configFile = path.join(tmp, `init-${t}-${i}.json`);
        fs.writeFileSync(
          configFile,
          JSON.stringify({
            url: `https://127.0.0.1:${port}`,
            caFile: certs.caCert,
            serverHpkePublicKey: hpkePublic.toString('base64'),
            rootfsKeySecret: 'app-image-key',
            secrets: [{ name: 'app-db-password', path: path.join(out, 'etc', 'app', 'db-password'), mode: '0400' }],
            timeoutSeconds: 20,
          }),
        );
        const startNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
        const r = await runInit(t, configFile, { WARDEN_HARNESS_QUOTE_SOCKET: socketPath, WARDEN_HARNESS_MOUNT_LOG: mountLog });
        if (r.code !== 0) return { available: false, reason: `${t} warden-init exited ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}` };
        const line = fs.existsSync(mountLog) ? fs.readFileSync(mountLog, 'utf8').trim().split('\n')[0] : undefined;
        const mounted = line ? /"unixNanos":(\d+)/.exec(line)?.[1] : undefined; // as text: beyond 2^53
        if (mounted === undefined) return { available: false, reason: 'the harness logged no mount' };
        if (i > 0) measured[t].push(Number(BigInt(mounted) - startNs) / 1e6); // run 0 warms the server
      }
    }
    return {
      available: true,
      runs,
      init: 'glibc',
      ...times(measured.glibc),
      musl: muslWhy ? { available: false, reason: muslWhy } : times(measured.musl),
      quoteSource: 'socket',
    };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  } finally {
    quotes?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
