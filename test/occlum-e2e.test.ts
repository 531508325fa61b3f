// End to end: the real init binaries (occlum-image/build/glibc/warden-init and build/musl/warden-init, the
// one Occlum's default initfs runs), each under the LD_PRELOAD harness built with its toolchain that stands
// in for Occlum's /dev/sgx and syscall 363 as Occlum's source answers them, against a real
// `warden serve --dev` over HTTPS with a temporary SQLite store. The key handed to syscall 363 must be the
// stored secret; every refusal must exit with its class and one line and never call syscall 363; a
// rotation mounts with either key, Occlum's EIO for the wrong one. Assertions compare errno values and
// exit codes, never strerror texts (glibc's and musl's differ).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parsePolicyText } from '../src/policy/parse.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { buildEnclaveElf, buildSigstruct, metadataRecord } from './enclave-helpers.ts';
import {
  BUILD_TIMEOUT_MS,
  ERRNO,
  IMAGE_DIR,
  INIT_BUILDS,
  WARDEN_BIN,
  buildOcclumImage,
  readIoctlLog,
  readNetLog,
  getJson,
  runInitUnderHarness,
  startQuoteService,
  type QuoteService,
} from './occlum-helpers.ts';

const { EPERM, EIO, EACCES, EINVAL, ECONNREFUSED } = ERRNO;
// warden-init's exit classes (occlum-image/init/util.h).
const EXIT = { UNREACHABLE: 3, TLS: 4, REFUSED: 5, QUOTE: 6, MOUNT: 8, SERVER_KEY: 12 } as const;

const MRENCLAVE = crypto.randomBytes(32).toString('hex');
// Enclaves of the rotation tests: one policy releases current+previous, the other only current.
const MRENCLAVE_ROT_BOTH = crypto.randomBytes(32).toString('hex');
const MRENCLAVE_ROT_CURRENT = crypto.randomBytes(32).toString('hex');
const MRSIGNER = crypto.randomBytes(32).toString('hex');
const PRODID = 4;
const MIN_SVN = 7;

interface Enclave {
  mrenclave?: string;
  isvsvn?: number;
  debug?: boolean;
  /** Where the harness gets quotes: `warden sim quote` per quote, or the in-process sim over a socket (faster). */
  source?: 'command' | 'socket';
}

interface InitRun {
  status: number | null;
  stdout: string;
  stderr: string;
  mounts: Array<{ key: string | null; rootfsConfig: string | null }>;
  /** The same calls with what each answered (0 = mounted, 5 = EIO: a key the image was not built with). */
  attempts: Array<{ key: string | null; errno: number }>;
  /** The /dev/sgx ioctls, with what each answered. */
  ioctls: Array<{ ioctl: string; errno: number }>;
  /** TCP connects, TCP_NODELAY and socket writes, in order. */
  net: Array<{ call: string; fd: number; value: number }>;
}

function warden(args: string[]): string {
  return execFileSync(process.execPath, [WARDEN_BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

for (const build of INIT_BUILDS) describe(`occlum init (${build.toolchain} build) end to end against warden serve --dev`, { skip: build.skip }, () => {
  const tmp = mkdtempSync(join(os.tmpdir(), `warden-occlum-e2e-${build.toolchain}-`));
  const data = join(tmp, 'data');
  const policies = join(tmp, 'policies');
  const out = join(tmp, 'rootfs');
  let server: ChildProcess | undefined;
  let quotes: QuoteService | undefined;
  let serverOutput = '';
  let url = '';
  let caFile = '';
  let hpkeKey = '';
  let imageKey = '';
  const dbPassword = `db-${crypto.randomBytes(12).toString('hex')}`;

  before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });
  before(async () => {
    mkdirSync(policies, { recursive: true });
    writeFileSync(
      join(policies, 'occlum-e2e.yaml'),
      [
        'name: occlum-e2e',
        'version: 1',
        'match:',
        `  - mrenclave: ${MRENCLAVE}`,
        `    isvprodid: ${PRODID}`,
        `    min_isvsvn: ${MIN_SVN}`,
        'debug: deny',
        'tcb:',
        '  statuses: [UpToDate]',
        'secrets:',
        '  - app-image-key',
        '  - app-db-password',
        '',
      ].join('\n'),
    );
    const rotationPolicy = (name: string, mrenclave: string, versions: string) =>
      writeFileSync(
        join(policies, `${name}.yaml`),
        [
          `name: ${name}`,
          'version: 1',
          'match:',
          `  - mrenclave: ${mrenclave}`,
          `    isvprodid: ${PRODID}`,
          `    min_isvsvn: ${MIN_SVN}`,
          'debug: deny',
          'tcb:',
          '  statuses: [UpToDate]',
          'secrets:',
          '  - name: rot-key',
          `    versions: ${versions}`,
          '  - name: rot-extra',
          `    versions: ${versions}`,
          '',
        ].join('\n'),
      );
    rotationPolicy('occlum-rotation', MRENCLAVE_ROT_BOTH, 'current+previous');
    rotationPolicy('occlum-rotated', MRENCLAVE_ROT_CURRENT, 'current');
    const common = ['--data', data, '--dev'];
    warden(['secret', 'create', 'app-image-key', '--kind', 'sefs-key', ...common]);
    writeFileSync(join(tmp, 'db-password'), dbPassword);
    warden(['secret', 'create', 'app-db-password', '--kind', 'bytes', '--from', join(tmp, 'db-password'), ...common]);
    warden(['secret', 'export-image-key', 'app-image-key', '--out', join(tmp, 'image_key'), ...common]);
    // `occlum gen-image-key` format: 16 dash-separated hex bytes and a newline.
    const keyText = readFileSync(join(tmp, 'image_key'), 'utf8');
    assert.match(keyText, /^([0-9a-f]{2}-){15}[0-9a-f]{2}\n$/);
    imageKey = keyText.trim().replace(/-/g, '');

    server = spawn(
      process.execPath,
      [WARDEN_BIN, 'serve', '--dev', '--data', data, '--policies', policies, '--certs', join(tmp, 'certs'), '--host', '127.0.0.1', '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // It prints its URL, the HPKE key to pin and the CA clients pin, once listening.
    let log = '';
    let stdout = '';
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
        serverOutput += d.toString();
        // Whole lines only, in any order.
        const line = (re: RegExp) => re.exec(stdout)?.[1];
        const u = line(/^warden listening on (https:\/\/\S+)\n/m);
        const k = line(/^HPKE public key[^:\n]*: (\S+)\n/m);
        const c = line(/^TLS CA certificate for clients: (\S+)\n/m);
        if (u && k && c) {
          url = u;
          hpkeKey = k;
          caFile = c;
          resolve();
        }
      });
      server?.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        serverOutput += d.toString();
      });
      server?.on('exit', (code) => reject(new Error(`warden serve exited ${code}: ${stdout}${log}`)));
    });
    // What an operator pins (build.sh reads /v1/server-keys) is what the server announces.
    const keys = (await getJson(`${url}/v1/server-keys`, readFileSync(caFile))) as { hpke: { publicKey: string } };
    assert.equal(keys.hpke.publicKey, hpkeKey);
    quotes = await startQuoteService(join(data, 'sim-pki'), tmp);
  }, { timeout: 120_000 }); // a server that never comes up fails the suite instead of hanging it

  after(async () => {
    await quotes?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  function writeConfig(overrides: Record<string, unknown> = {}): string {
    const file = join(tmp, `init-${crypto.randomUUID()}.json`);
    const config = {
      url,
      caFile,
      serverHpkePublicKey: hpkeKey,
      rootfsKeySecret: 'app-image-key',
      secrets: [{ name: 'app-db-password', path: join(out, 'etc', 'app', 'db-password'), mode: '0400' }],
      timeoutSeconds: 20,
      ...overrides,
    };
    writeFileSync(file, JSON.stringify(config));
    return file;
  }

  async function runInit(config: string, enclave: Enclave = {}, env: Record<string, string> = {}): Promise<InitRun> {
    const mountLog = join(tmp, `mount-${crypto.randomUUID()}.log`);
    const ioctlLog = join(tmp, `ioctl-${crypto.randomUUID()}.log`);
    const netLog = join(tmp, `net-${crypto.randomUUID()}.log`);
    const quoteCmd = [
      process.execPath,
      WARDEN_BIN,
      'sim',
      'quote',
      '--pki',
      join(data, 'sim-pki'),
      '--mrenclave',
      enclave.mrenclave ?? MRENCLAVE,
      '--mrsigner',
      MRSIGNER,
      '--isvprodid',
      String(PRODID),
      '--isvsvn',
      String(enclave.isvsvn ?? MIN_SVN),
      ...(enclave.debug ? ['--debug'] : []),
      '--format',
      'bin',
      '--report-data',
    ]
      .map(shellQuote)
      .join(' ');
    const r = await runInitUnderHarness({
      build,
      config,
      mountLog,
      ioctlLog,
      netLog,
      ...(enclave.source === 'command'
        ? { quoteCmd }
        : {
            quoteSocket: await quotes!.socketFor({
              mrEnclave: Buffer.from(enclave.mrenclave ?? MRENCLAVE, 'hex'),
              mrSigner: Buffer.from(MRSIGNER, 'hex'),
              isvProdId: PRODID,
              isvSvn: enclave.isvsvn ?? MIN_SVN,
              debug: enclave.debug ?? false,
            }),
          }),
      env,
    });
    return {
      ...r,
      mounts: r.mounts.map((m) => ({ key: m.key, rootfsConfig: m.rootfsConfig })),
      attempts: r.mounts.map((m) => ({ key: m.key, errno: m.errno })),
      ioctls: readIoctlLog(ioctlLog),
      net: readNetLog(netLog),
    };
  }

  function assertRefused(r: InitRun, exit: number, line: RegExp) {
    assert.equal(r.status, exit, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, /^warden-init: [^\n]+\n$/, 'exactly one line on stderr');
    assert.match(r.stderr, line);
    assert.deepEqual(r.mounts, [], 'syscall 363 must never be called');
  }

  it('mounts with the stored image key and writes the further secret (quotes from `warden sim quote`)', async () => {
    const r = await runInit(writeConfig(), { source: 'command' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.mounts, [{ key: imageKey, rootfsConfig: null }]);
    const secretFile = join(out, 'etc', 'app', 'db-password');
    assert.equal(readFileSync(secretFile, 'utf8'), dbPassword);
    assert.equal(statSync(secretFile).mode & 0o777, 0o400);
    assert.ok(!r.stdout.includes(imageKey) && !r.stderr.includes(imageKey), 'the key never appears in output');
    const b64 = Buffer.from(imageKey, 'hex').toString('base64');
    assert.ok(!serverOutput.includes(imageKey) && !serverOutput.includes(b64) && !serverOutput.includes(dbPassword), 'nor in the server log');
  });

  it('mounts with quotes from the socket quote source too (what the benchmark uses)', async () => {
    rmSync(out, { recursive: true, force: true });
    const r = await runInit(writeConfig());
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.mounts, [{ key: imageKey, rootfsConfig: null }]);
    assert.equal(readFileSync(join(out, 'etc', 'app', 'db-password'), 'utf8'), dbPassword);
  });

  it('challenge and attest share one TCP connection with TCP_NODELAY, and each request leaves in one write', async () => {
    const r = await runInit(writeConfig({ secrets: [] }));
    assert.equal(r.status, 0, r.stderr);
    const connects = r.net.filter((n) => n.call === 'connect');
    assert.equal(connects.length, 1, JSON.stringify(r.net));
    const fd = connects[0]!.fd;
    assert.deepEqual(r.net[1], { call: 'nodelay', fd, value: 1 }, 'TCP_NODELAY before the first byte');
    // TLS 1.3: ClientHello, then the client's Finished (with the compatibility ChangeCipherSpec); then one
    // write per request (a request split in two SSL_writes would add one each) and close_notify.
    const writes = r.net.filter((n) => n.call === 'write');
    assert.ok(writes.every((w) => w.fd === fd));
    assert.equal(writes.length, 2 + 2 + 1, JSON.stringify(writes));
    assert.ok(writes[3]!.value > 4000, 'the attest request, quote and all, is one write');
  });

  it('refuses a debug enclave', async () => {
    assertRefused(await runInit(writeConfig(), { debug: true, source: 'command' }), EXIT.REFUSED, /^warden-init: attestation refused: policy_denied \(HTTP 403\) .*\[occlum-e2e\/debug\]$/m);
  });

  it('refuses an ISVSVN below the minimum', async () => {
    assertRefused(await runInit(writeConfig(), { isvsvn: MIN_SVN - 1 }), EXIT.REFUSED, /^warden-init: attestation refused: policy_denied \(HTTP 403\) .*\[occlum-e2e\/min_isvsvn\]$/m);
  });

  it('refuses an MRENCLAVE no policy matches', async () => {
    assertRefused(await runInit(writeConfig(), { mrenclave: crypto.randomBytes(32).toString('hex') }), EXIT.REFUSED, /^warden-init: attestation refused: policy_denied \(HTTP 403\) .*\[identity_not_listed\]$/m);
  });

  it('an image pinning an HPKE key the server does not hold: refused before any secret is sealed (server_key_unknown, exit 12)', async () => {
    // The init names its pinned key (serverKeyId), so the server refuses instead of sealing with another key.
    // Rotation and retirement: test/occlum-keyring.test.ts.
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
    assertRefused(await runInit(writeConfig({ serverHpkePublicKey: other.toString('base64') })), EXIT.SERVER_KEY, /^warden-init: pinned server key unknown: server_key_unknown \(HTTP 400\): /);
  });

  it('refuses a TLS certificate from another CA', async () => {
    const otherCa = join(tmp, 'other-ca');
    warden(['certs', 'init', '--dir', otherCa, '--force']);
    assertRefused(await runInit(writeConfig({ caFile: join(otherCa, 'ca.pem') })), EXIT.TLS, /^warden-init: TLS pin mismatch: https:\/\/127\.0\.0\.1:\d+: server certificate rejected: /);
  });

  it('refuses a certificate from the pinned CA that names another host', async () => {
    // A CA whose only server certificate is for warden.invalid, served on 127.0.0.1: the chain is fine, the name is not.
    const p = await createDevCerts(join(tmp, 'wrong-host'), ['warden.invalid']);
    const impostor = tls.createServer({ key: readFileSync(p.serverKey), cert: readFileSync(p.serverCert) }, (s) => s.destroy());
    impostor.on('tlsClientError', () => {});
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    const { port } = impostor.address() as net.AddressInfo;
    try {
      const r = await runInit(writeConfig({ url: `https://127.0.0.1:${port}`, caFile: p.caCert }));
      assertRefused(r, EXIT.TLS, /^warden-init: TLS pin mismatch: https:\/\/127\.0\.0\.1:\d+: server certificate rejected: IP address mismatch\n$/);
    } finally {
      await new Promise<void>((r) => impostor.close(() => r()));
    }
  });

  it('reports the server down as unreachable', async () => {
    const down = `https://127.0.0.1:${await freePort()}`;
    assertRefused(await runInit(writeConfig({ url: down })), EXIT.UNREACHABLE, new RegExp(`^warden-init: server unreachable: https://127\\.0\\.0\\.1:\\d+: errno ${ECONNREFUSED} ECONNREFUSED `));
  });

  it('build.sh: the operator flow produces an instance whose init boots against the server', async () => {
    // Occlum is not installable here: `occlum` and `copy_bom` are shims that do what build.sh relies on
    // (new, build with --image-key, print); curl, the server, `warden` and the init are real.
    const shims = join(tmp, 'shims');
    mkdirSync(shims, { recursive: true });
    const enclave = join(tmp, 'libocclum-libos.signed.so');
    writeFileSync(enclave, buildEnclaveElf([metadataRecord(buildSigstruct({ mrEnclave: Buffer.from(MRENCLAVE, 'hex'), isvProdId: PRODID, isvSvn: MIN_SVN, debuggable: false }), 3, 0)]));
    const shim = (name: string, body: string) => {
      writeFileSync(join(shims, name), `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
      chmodSync(join(shims, name), 0o755);
    };
    shim(
      'occlum',
      [
        'case "$1" in',
        '  new) mkdir -p "$2/image/bin" "$2/initfs/bin" "$2/initfs/etc" ;;',
        '  build) while [ $# -gt 0 ]; do [ "$1" = --image-key ] && cp "$2" "$SHIM_DIR/image-key-seen"; shift; done',
        `        mkdir -p build/lib && cp '${enclave}' build/lib/libocclum-libos.signed.so ;;`,
        `  print) [ "$2" = mrenclave ] && echo ${MRENCLAVE} || echo shim-mrsigner ;;`,
        '  *) exit 9 ;;',
        'esac',
      ].join('\n'),
    );
    // copy_bom -f BOM --root DIR ...: copy each "name:" file of the BOM into DIR/bin.
    // The BOM is kept to show what copy_bom was asked to bring along.
    shim('copy_bom', 'bom=$2; root=$4; cp "$bom" "$SHIM_DIR/bom.yaml"; grep -o "name: .*" "$bom" | cut -d" " -f2 | while read -r f; do cp "$f" "$root/bin/"; done');
    const app = join(tmp, 'app');
    mkdirSync(join(app, 'bin'), { recursive: true });
    writeFileSync(join(app, 'bin', 'app'), '#!/bin/sh\necho app\n');
    const signKey = join(tmp, 'sign.pem');
    writeFileSync(signKey, 'not read by the shim');
    const instance = join(tmp, 'app_instance');
    const secretPath = join(tmp, 'built-rootfs', 'etc', 'app', 'db-password');
    const sh = spawn('bash', [join(IMAGE_DIR, 'build.sh'), app, signKey, instance], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${shims}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
        SHIM_DIR: shims,
        WARDEN_URL: url,
        WARDEN_CA: caFile,
        WARDEN_DATA: data,
        WARDEN_MASTER_KEY_FILE: join(data, 'master.key'),
        EXTRA_SECRETS: `app-db-password:${secretPath}:0400`,
        POLICY_NAME: 'built-app',
        INIT_TOOLCHAIN: build.toolchain, // musl is the default
      },
    });
    let stdout = '';
    let stderr = '';
    sh.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    sh.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => sh.on('close', r));
    assert.equal(code, 0, stderr);
    // The image key occlum build got is the secret Warden holds, in `occlum gen-image-key` format.
    assert.equal(readFileSync(join(shims, 'image-key-seen'), 'utf8').trim().replace(/-/g, ''), imageKey);
    assert.ok(!stdout.includes(imageKey) && !stderr.includes(imageKey), 'the image key is never printed');
    // The initfs holds the very init binary, the CA, and a config pinning this server.
    assert.ok(readFileSync(join(instance, 'initfs', 'bin', 'init')).equals(readFileSync(build.init)));
    // musl: the default initfs has its loader and libc, nothing to bring; glibc: its libraries come along.
    assert.match(readFileSync(join(shims, 'bom.yaml'), 'utf8'), new RegExp(`autodep: ${build.toolchain === 'glibc'}\n`));
    assert.ok(readFileSync(join(instance, 'initfs', 'etc', 'warden', 'ca.pem')).equals(readFileSync(caFile)));
    const config = JSON.parse(readFileSync(join(instance, 'initfs', 'etc', 'warden', 'init.json'), 'utf8')) as Record<string, unknown>;
    const schema = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(join(IMAGE_DIR, 'schema', 'init-config.schema.json'), 'utf8')) as object);
    assert.ok(schema(config), JSON.stringify(schema.errors));
    assert.equal(config['url'], url);
    assert.equal(config['serverHpkePublicKey'], hpkeKey);
    assert.equal(readFileSync(join(instance, 'image', 'bin', 'app'), 'utf8'), '#!/bin/sh\necho app\n', 'the app is in the image');
    // Measurements and a policy that releases exactly the configured secrets to this enclave.
    assert.match(stdout, new RegExp(`MRENCLAVE: ${MRENCLAVE}`));
    const yamlStart = stdout.indexOf('name: built-app');
    assert.ok(yamlStart >= 0, stdout);
    const { policy } = parsePolicyText('built-app.yaml', stdout.slice(yamlStart));
    assert.ok(policy, stdout.slice(yamlStart));
    assert.deepEqual(policy.secrets.map((g) => g.name).sort(), ['app-db-password', 'app-image-key']);
    assert.equal(policy.debug, 'deny');
    // And the built init, with the built config, boots against the server.
    const r = await runInit(join(instance, 'initfs', 'etc', 'warden', 'init.json'));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.mounts, [{ key: imageKey, rootfsConfig: null }]);
    assert.equal(readFileSync(secretPath, 'utf8'), dbPassword);
  });

  it('reports a failed mount with its errno and exit 8, after a quoting enclave that was busy twice (EINVAL, retried)', async () => {
    const other = crypto.randomBytes(16).toString('hex');
    const r = await runInit(writeConfig({ secrets: [] }), {}, { WARDEN_HARNESS_MOUNT_KEY: other, WARDEN_HARNESS_QUOTE_BUSY: '2' });
    assert.equal(r.status, EXIT.MOUNT, r.stderr);
    assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EIO} EIO with 'app-image-key' version 1 \\(EIO\\): wrong key[^\\n]*\\n$`));
    assert.deepEqual(r.attempts, [{ key: imageKey, errno: EIO }], 'the mount was attempted once, with the stored key');
    assert.deepEqual(r.ioctls.map((i) => `${i.ioctl}:${i.errno}`), ['size:0', `gen:${EINVAL}`, `gen:${EINVAL}`, 'gen:0']);
  });

  it('a quoting enclave that is never ready: bounded retries, one line naming AESM, PCCS and the quoting enclave, no mount', async () => {
    const r = await runInit(writeConfig(), {}, { WARDEN_HARNESS_QUOTE_NOT_READY: '1' });
    assertRefused(r, EXIT.QUOTE, new RegExp(`^warden-init: quote failed: SGXIOC_GET_DCAP_QUOTE_SIZE: errno ${EINVAL} EINVAL after 6 tries [^\\n]*AESM[^\\n]*PCCS[^\\n]*\\n$`));
    assert.match(r.stderr, /quoting enclave/);
    assert.deepEqual(r.ioctls.map((i) => `${i.ioctl}:${i.errno}`), Array(6).fill(`size:${EINVAL}`));
  });

  for (const version of ['0.29.5', '1.0']) {
    it(`on Occlum ${version} (syscall 363 wants the Occlum.json MAC): one line naming the supported versions, exit 8`, async () => {
      const r = await runInit(writeConfig({ secrets: [] }), {}, { WARDEN_HARNESS_OCCLUM: version });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EINVAL} EINVAL [^\\n]*this Occlum version is not supported[^\\n]*supported: Occlum 0\\.30\\.x and 0\\.31\\.x\\n$`));
      assert.deepEqual(r.attempts, [{ key: imageKey, errno: EINVAL }]);
    });
  }

  it('on Occlum 0.31 (the harness playing it explicitly) the same image mounts', async () => {
    const r = await runInit(writeConfig({ secrets: [] }), {}, { WARDEN_HARNESS_OCCLUM: '0.31.0', WARDEN_HARNESS_MOUNT_KEY: imageKey });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.attempts, [{ key: imageKey, errno: 0 }]);
  });

  describe('during a rotation of the root key (policy versions: current+previous)', () => {
    const keyV: string[] = []; // keyV[n] = hex of rot-key version n
    const extraV2 = `extra-v2-${crypto.randomBytes(8).toString('hex')}`;

    function exportKey(version: number): string {
      const file = join(tmp, `rot-key-v${version}`);
      warden(['secret', 'export-image-key', 'rot-key', '--version', String(version), '--out', file, '--data', data, '--dev']);
      return readFileSync(file, 'utf8').trim().replace(/-/g, '');
    }

    function rotationConfig(extraPath?: string): string {
      return writeConfig({
        rootfsKeySecret: 'rot-key',
        secrets: extraPath ? [{ name: 'rot-extra', path: extraPath, mode: '0400' }] : [],
      });
    }

    before(() => {
      // The operator's flow: create, export (the running image is built with v1), then rotate while the
      // server runs; both versions of each secret stay releasable for the grace period.
      const common = ['--data', data, '--dev'];
      warden(['secret', 'create', 'rot-key', '--kind', 'sefs-key', ...common]);
      writeFileSync(join(tmp, 'extra-v1'), 'extra-v1');
      warden(['secret', 'create', 'rot-extra', '--kind', 'bytes', '--from', join(tmp, 'extra-v1'), ...common]);
      keyV[1] = exportKey(1);
      warden(['secret', 'rotate', 'rot-key', ...common]);
      writeFileSync(join(tmp, 'extra-v2'), extraV2);
      warden(['secret', 'rotate', 'rot-extra', '--from', join(tmp, 'extra-v2'), ...common]);
      keyV[2] = exportKey(2);
      assert.notEqual(keyV[1], keyV[2]);
    });

    it("an image built with the previous key: the current version gets Occlum's EIO, then the previous one mounts", async () => {
      const extra = join(tmp, `rot-${crypto.randomUUID()}`, 'extra');
      const r = await runInit(rotationConfig(extra), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_MOUNT_KEY: keyV[1]! });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.attempts, [
        { key: keyV[2], errno: EIO },
        { key: keyV[1], errno: 0 },
      ]);
      assert.match(r.stdout, /^warden-init: root file system mounted with 'rot-key' version 1, 1 further secret\(s\) written\n$/);
      // A further secret released in two versions: the newest is written.
      assert.equal(readFileSync(extra, 'utf8'), extraV2);
      for (const k of [keyV[1]!, keyV[2]!]) assert.ok(!r.stdout.includes(k) && !r.stderr.includes(k), 'no key in the output');
    });

    it('an image built with the current key mounts at the first try', async () => {
      const r = await runInit(rotationConfig(), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_MOUNT_KEY: keyV[2]! });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.attempts, [{ key: keyV[2], errno: 0 }]);
      assert.match(r.stdout, /mounted with 'rot-key' version 2,/);
    });

    it('an EACCES (not what Occlum returns for a wrong key, but a MAC mismatch) also moves on to the previous key', async () => {
      const r = await runInit(rotationConfig(), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_MOUNT_FAIL: 'EACCES' });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.deepEqual(r.attempts, [
        { key: keyV[2], errno: EACCES },
        { key: keyV[1], errno: EACCES },
      ]);
      assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EACCES} EACCES with 'rot-key' versions 2, 1 \\(EACCES, EACCES\\): wrong key[^\\n]*\\n$`));
    });

    it('an image built with neither key: both tried, one EIO line, nothing mounted or written', async () => {
      const extra = join(tmp, `rot-${crypto.randomUUID()}`, 'extra');
      const other = crypto.randomBytes(16).toString('hex');
      const r = await runInit(rotationConfig(extra), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_MOUNT_KEY: other });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EIO} EIO with 'rot-key' versions 2, 1 \\(EIO, EIO\\): wrong key[^\\n]*\\n$`));
      assert.deepEqual(r.attempts, [
        { key: keyV[2], errno: EIO },
        { key: keyV[1], errno: EIO },
      ]);
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(extra), 'no further secret written without a mount');
    });

    it('a mount error other than a wrong key stops at once (no older key is tried): EPERM', async () => {
      const r = await runInit(rotationConfig(), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_MOUNT_FAIL: 'EPERM' });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EPERM} EPERM with 'rot-key' version 2 \\(EPERM\\): the root file system is already mounted\\n$`));
      assert.deepEqual(r.attempts, [{ key: keyV[2], errno: EPERM }]);
    });

    it('an unsupported Occlum stops at once too: the previous key is not tried after EINVAL', async () => {
      const r = await runInit(rotationConfig(), { mrenclave: MRENCLAVE_ROT_BOTH }, { WARDEN_HARNESS_OCCLUM: '0.29.5', WARDEN_HARNESS_MOUNT_KEY: keyV[1]! });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.match(r.stderr, /this Occlum version is not supported/);
      assert.deepEqual(r.attempts, [{ key: keyV[2], errno: EINVAL }]);
    });

    it('once the policy releases only the current version, an image built with the old key fails with EIO (rebuild it)', async () => {
      const r = await runInit(rotationConfig(), { mrenclave: MRENCLAVE_ROT_CURRENT }, { WARDEN_HARNESS_MOUNT_KEY: keyV[1]! });
      assert.equal(r.status, EXIT.MOUNT, r.stderr);
      assert.match(r.stderr, new RegExp(`^warden-init: mount failed: syscall 363 errno ${EIO} EIO with 'rot-key' version 2 \\(EIO\\): wrong key[^\\n]*\\n$`));
      assert.deepEqual(r.attempts, [{ key: keyV[2], errno: EIO }]);
    });
  });
});
