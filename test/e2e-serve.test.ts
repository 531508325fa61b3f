// `warden serve` as an operator runs it, in a child process: a test PKI root (--root-ca), collateral from a
// PCCS over HTTP (--pccs), HTTPS with certificates from `warden certs init`, master key from the environment.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';
import { Enclave, request, verifyToken } from './e2e-harness.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-serve-'));
const env = { ...process.env, WARDEN_TEST_MK: crypto.randomBytes(32).toString('hex') };
let pki: SimPki;
let pccs: PccsServer;
let child: ChildProcess | undefined;
let url = '';
let ca = '';
let stdout = '';
let stderr = '';

function warden(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
}

before(async () => {
  pki = await SimPki.create();
  pccs = await startPccsServer({ pki });
  fs.writeFileSync(path.join(tmp, 'root.pem'), pki.rootPem);
  fs.mkdirSync(path.join(tmp, 'policies'));
  fs.writeFileSync(
    path.join(tmp, 'policies', 'app.yaml'),
    `name: app\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 1\nsecrets:\n  - app-fs-key\n`,
  );
  const mk = ['--master-key-env', 'WARDEN_TEST_MK'];
  const certs = warden(['certs', 'init', '--dir', 'certs', '--hosts', '127.0.0.1']);
  assert.equal(certs.status, 0, certs.stderr);
  const sec = warden(['secret', 'create', 'app-fs-key', '--kind', 'sefs-key', ...mk]);
  assert.equal(sec.status, 0, sec.stderr);
  ca = fs.readFileSync(path.join(tmp, 'certs', 'ca.pem'), 'utf8');

  child = spawn(
    process.execPath,
    [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--root-ca', 'root.pem', '--pccs', pccs.url, ...mk, '--log-level', 'warn'],
    { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 60_000);
    child?.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /warden listening on (https:\/\/[^\s]+)/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child?.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
  }
  await pccs?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('an enclave attests against `warden serve --root-ca --pccs` and the token says the root is custom', async () => {
  assert.match(stdout, /HPKE public key \(pin in enclave images\): [A-Za-z0-9+/]{87}=/);
  const keys = (await request(url, ca, 'GET', '/v1/server-keys')).json;
  const c = (await request(url, ca, 'POST', '/v1/challenge')).json;
  const platform = await pki.platform({});
  const e = new Enclave(platform, { ...SIM_ENCLAVE, isvSvn: 1 });
  const nonce = Buffer.from(c.nonce, 'base64');
  const r = await request(url, ca, 'POST', '/v1/attest', {
    nonce: c.nonce,
    quote: e.quoteFor(nonce).toString('base64'),
    publicKey: e.pkE.toString('base64'),
    secrets: ['app-fs-key'],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(e.open(Buffer.from(keys.hpke.publicKey, 'base64'), nonce, r.json.secrets[0]).length, 16);
  const jwks = (await request(url, ca, 'GET', '/.well-known/jwks.json')).json;
  assert.equal(verifyToken(r.json.token, jwks).claims['warden.root'], 'custom');
  assert.ok(pccs.requests.some((q) => q.url.includes('/sgx/certification/v4/tcb')), 'collateral came from the PCCS');
  assert.ok(!stderr.includes(env.WARDEN_TEST_MK), 'master key not logged');
});

/** Start `warden serve` with extra flags; resolves with its URL once it listens. */
async function startServe(extra: string[]): Promise<{ url: string; proc: ChildProcess; err: () => string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--root-ca', 'root.pem', ...extra, '--log-level', 'warn'], {
    cwd: tmp,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const u = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /warden listening on (https:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { url: u, proc, err: () => err };
}

test('a PCCS with its own TLS certificate: `serve --pccs https://... --pccs-ca FILE` trusts it for collateral', async () => {
  // An HTTPS front for the sim PCCS, with the certificate `warden certs init` made (127.0.0.1, not in the system roots).
  const front = https.createServer(
    { key: fs.readFileSync(path.join(tmp, 'certs', 'server.key')), cert: fs.readFileSync(path.join(tmp, 'certs', 'server.pem')) },
    (req, res) => {
      http.get(new URL(req.url ?? '/', pccs.url), (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      }).on('error', () => res.writeHead(502).end());
    },
  );
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const addr = front.address();
  const pccsHttps = `https://127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}`;
  const mk = ['--master-key-env', 'WARDEN_TEST_MK'];
  const s = await startServe(['--data', 'data-pccs-tls', '--pccs', pccsHttps, '--pccs-ca', path.join('certs', 'ca.pem'), ...mk]);
  try {
    const keys = (await request(s.url, ca, 'GET', '/v1/server-keys')).json;
    const c = (await request(s.url, ca, 'POST', '/v1/challenge')).json;
    const e = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvSvn: 1 });
    const nonce = Buffer.from(c.nonce, 'base64');
    const r = await request(s.url, ca, 'POST', '/v1/attest', {
      nonce: c.nonce,
      quote: e.quoteFor(nonce).toString('base64'),
      publicKey: e.pkE.toString('base64'),
      secrets: ['app-fs-key'],
    });
    // data-pccs-tls has no secrets: a policy_denied (not a 503) shows the quote verified with collateral over TLS.
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error.code, 'policy_denied', r.text);
    assert.ok(keys.hpke.publicKey);
  } finally {
    s.proc.kill('SIGTERM');
    await new Promise((r) => s.proc.once('exit', r));
    await new Promise((r) => front.close(r));
  }
  const bad = warden(['serve', '--pccs', pccsHttps, '--pccs-ca', 'no-such.pem', ...mk]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /no-such\.pem/);
});

test('outside --dev, serve without certificates refuses to start and says what to do', () => {
  const r = warden(['serve', '--certs', 'no-such-dir', '--port', '0', '--policies', 'policies', '--master-key-env', 'WARDEN_TEST_MK', '--data', 'data2']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /warden certs init/);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

test('--dev and --root-ca together are a usage error', () => {
  const r = warden(['serve', '--dev', '--root-ca', 'root.pem']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /exclude each other/);
});

test('HTTP limits and TLS flags: bad values are usage errors that name the flag', () => {
  for (const [args, pattern] of [
    [['--headers-timeout', '60', '--request-timeout', '30'], /--headers-timeout cannot be longer than --request-timeout/],
    [['--max-connections', '0'], /--max-connections must be between/],
    [['--tls-min-version', 'TLSv1.1'], /--tls-min-version must be TLSv1.2 or TLSv1.3/],
    [['--tls-ciphers', 'NO-SUCH-CIPHER', '--data', 'data3'], /--tls-ciphers 'NO-SUCH-CIPHER' is not usable/],
    [['--http', '--tls-ciphers', 'ECDHE-ECDSA-AES128-GCM-SHA256'], /--http serves plain HTTP/],
  ] as Array<[string[], RegExp]>) {
    const r = warden(['serve', '--dev', '--port', '0', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }
});

test('a master key or TLS key file other users can read: serve refuses to start unless told to accept it', () => {
  const loose = path.join(tmp, 'loose.key');
  fs.writeFileSync(loose, crypto.randomBytes(32).toString('hex'));
  fs.chmodSync(loose, 0o644);
  const mk = warden(['serve', '--dev', '--port', '0', '--data', 'data-loose', '--master-key-file', loose]);
  assert.equal(mk.status, 1, mk.stderr);
  assert.match(mk.stderr, /master key file .*loose\.key is accessible to other users \(mode 0644\).*chmod 600/);
  assert.ok(!mk.stderr.includes('    at '), 'no stack trace');

  const certsDir = path.join(tmp, 'certs-loose');
  fs.cpSync(path.join(tmp, 'certs'), certsDir, { recursive: true });
  fs.chmodSync(path.join(certsDir, 'server.key'), 0o640);
  const tlsKey = warden(['serve', '--port', '0', '--data', 'data-loose2', '--policies', 'policies', '--master-key-env', 'WARDEN_TEST_MK', '--tls-cert', path.join(certsDir, 'server.pem'), '--tls-key', path.join(certsDir, 'server.key')]);
  assert.equal(tlsKey.status, 1, tlsKey.stderr);
  assert.match(tlsKey.stderr, /TLS key file .*server\.key is accessible to other users \(mode 0640\)/);
});
