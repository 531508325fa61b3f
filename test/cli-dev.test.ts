// Development mode that teaches, and `warden client attest` against it (issue 13): a real `warden serve
// --dev` in a child process, in a temporary directory laid out as a fresh clone (policies/, certs/, data/
// made on first start), and the client command run as a newcomer runs it.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';
import { SimPki } from '../src/sim/pki.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { DEFAULT_FMSPC } from '../src/sim/tcb-levels.ts';
import { request } from './e2e-harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-dev-'));
const env: NodeJS.ProcessEnv = { ...process.env, WARDEN_DATA: '', WARDEN_SERVER: '', WARDEN_ADMIN_TOKEN: '' };

interface Server {
  proc: ChildProcess;
  url: string;
  out: () => string;
  err: () => string;
}
const running: Server[] = [];
let dev: Server;

function warden(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 });
}

/** As `warden`, without blocking this process (which may be serving the PCCS the server asks). */
function wardenAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) =>
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function serve(args: string[]): Promise<Server> {
  let out = '';
  let err = '';
  const proc = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 120_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /warden listening on (https?:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  const s = { proc, url, out: () => out, err: () => err };
  running.push(s);
  return s;
}

async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  await exited;
}

const attest = (args: string[]) => warden(['client', 'attest', '--server', dev.url, ...args]);

before(async () => {
  fs.cpSync(path.join(ROOT, 'policies'), path.join(tmp, 'policies'), { recursive: true });
  dev = await serve(['--dev', '--port', '0']);
});

after(async () => {
  for (const s of running) await stop(s);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('serve --dev prints the URL, an admin token kept 0600 in the data directory, and the next three commands', async () => {
  const out = dev.out();
  assert.match(out, new RegExp(`URL: +${dev.url.replace(/[.]/g, '\\.')}`));
  const token = /admin token: +(wdn_\S+)/.exec(out)?.[1];
  assert.ok(token, out);
  const file = path.join(tmp, 'data', 'dev-admin-token');
  assert.equal(fs.readFileSync(file, 'utf8').trim(), token);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.match(out, /1\. attest a simulated enclave: +npx warden client attest --dev --secret demo-sefs-key --server https:\/\/127\.0\.0\.1:\d+/);
  assert.match(out, /2\. read the audit trail: +npx warden audit list/);
  assert.match(out, new RegExp(`3\\. the policies live in ${path.join(tmp, 'policies')}`));
  // The token works on the admin API, and the dev-only demo policy is in force.
  const ca = fs.readFileSync(path.join(tmp, 'certs', 'ca.pem'), 'utf8');
  const r = await request(dev.url, ca, 'GET', '/v1/admin/policies', undefined, { authorization: `Bearer ${token}` });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.policies.some((p: { name: string }) => p.name === 'dev-demo'));
  // The shipped example policies name secrets that do not exist: serve says so.
  assert.match(dev.err(), /policy warning secret_missing: policies\/payments\.yaml:\d+: .*'payments-image-key'/);
  assert.doesNotMatch(dev.err(), /dev-demo.*min_isvsvn/, 'the built-in policy raises no warning of its own');
});

test('client attest --dev --secret demo-sefs-key --json: released (exit 0), token verified, values only with --out (0600)', async () => {
  const outDir = path.join(tmp, 'released');
  const r = attest(['--dev', '--secret', 'demo-sefs-key', '--json', '--out', outDir]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j).sort(), ['error', 'ok', 'policy', 'secrets', 'tcbStatus', 'token']);
  assert.equal(j.ok, true);
  assert.equal(j.error, null);
  assert.equal(j.policy, 'dev-demo');
  assert.equal(j.tcbStatus, 'UpToDate');
  assert.deepEqual(Object.keys(j.token).sort(), ['claims', 'header']);
  assert.equal(j.token.claims['warden.root'], 'simulated');
  assert.deepEqual(j.token.claims.submods['sgx-enclave']['warden.policies'], [{ name: 'dev-demo', version: 1 }]);
  assert.equal(j.secrets.length, 1);
  const value = fs.readFileSync(path.join(outDir, 'demo-sefs-key'));
  assert.equal(value.length, 16);
  assert.equal(fs.statSync(path.join(outDir, 'demo-sefs-key')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(outDir, 'token.jwt')).mode & 0o777, 0o600);
  assert.deepEqual(j.secrets[0], { name: 'demo-sefs-key', version: 1, sha256: crypto.createHash('sha256').update(value).digest('hex') });
  assert.ok(!r.stdout.includes(value.toString('hex')) && !r.stdout.includes(value.toString('base64')), 'the value is never printed');
  assert.match(r.stderr, /trusted the server's HPKE key on first use: [A-Za-z0-9+/]{87}= \(pin it with --server-key\)/);

  // The same value on the next attestation (the demo secret is stable), and the decision log line
  // carries outcome and reason, never the value.
  const again = attest(['--dev', '--secret', 'demo-sefs-key', '--json']);
  assert.equal(JSON.parse(again.stdout).secrets[0].sha256, j.secrets[0].sha256);
  await waitFor(() => /"decision":\{"outcome":"allowed","reason":"ok"/.test(dev.out()));
  const logs = dev.out();
  for (const enc of [value.toString('hex'), value.toString('base64')]) assert.ok(!logs.includes(enc) && !dev.err().includes(enc));
});

test('client attest --debug: refused, exit 1, error.code policy_denied, and the audit entry says simulated', async () => {
  const r = attest(['--dev', '--secret', 'demo-sefs-key', '--json', '--debug']);
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.ok, false);
  assert.equal(j.error.code, 'policy_denied');
  assert.match(j.error.message, /dev-demo\/debug/);
  assert.deepEqual(j.secrets, []);
  await waitFor(() => /"decision":\{"outcome":"denied","reason":"policy_denied"/.test(dev.out()));
  const human = attest(['--dev', '--secret', 'demo-sefs-key', '--debug']);
  assert.equal(human.status, 1);
  assert.match(human.stderr, /refused: policy_denied/);

  const audit = warden(['audit', 'list', '--type', 'attestation', '--json']);
  assert.equal(audit.status, 0, audit.stderr);
  const entries = JSON.parse(audit.stdout).entries as Array<{ outcome: string; data: Record<string, unknown> }>;
  assert.ok(entries.length >= 3);
  assert.ok(entries.every((e) => e.data['simulated'] === true), 'every attestation under --dev says simulated');
  assert.ok(entries.some((e) => e.outcome === 'denied' && e.data['reason'] === 'policy_denied'));
});

test('--server-key pins the HPKE key: the right one is used silently, another refuses with server_key_mismatch', () => {
  const pk = /HPKE public key \(pin in enclave images\): (\S+)/.exec(dev.out())?.[1];
  assert.ok(pk);
  const ok = attest(['--dev', '--secret', 'demo-sefs-key', '--server-key', pk]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /first use/);
  assert.match(ok.stdout, /released: demo-sefs-key version 1 \(16 bytes, sha256 [0-9a-f]{64}\)/);
  const wrongKey = crypto.createECDH('prime256v1');
  wrongKey.generateKeys();
  const bad = attest(['--dev', '--secret', 'demo-sefs-key', '--server-key', wrongKey.getPublicKey('base64'), '--json']);
  assert.equal(bad.status, 1);
  assert.equal(JSON.parse(bad.stdout).error.code, 'server_key_mismatch');

  // Across a rotation the pinned (now previous) key still works, named by its serverKeyId; once retired it is refused.
  const rot = warden(['admin', 'keys', 'rotate', '--hpke', '--dev', '--json']);
  assert.equal(rot.status, 0, rot.stderr);
  const { previous, publicKey } = JSON.parse(rot.stdout) as { previous: string; publicKey: string };
  assert.notEqual(publicKey, pk);
  const pinnedOld = attest(['--dev', '--secret', 'demo-sefs-key', '--server-key', pk, '--json']);
  assert.equal(pinnedOld.status, 0, pinnedOld.stdout + pinnedOld.stderr);
  const tofu = attest(['--dev', '--secret', 'demo-sefs-key']);
  assert.equal(tofu.status, 0, tofu.stderr);
  assert.ok(tofu.stderr.includes(publicKey), 'trust on first use takes the current key');
  assert.equal(warden(['admin', 'keys', 'retire', previous, '--dev']).status, 0);
  const retired = attest(['--dev', '--secret', 'demo-sefs-key', '--server-key', pk, '--json']);
  assert.equal(retired.status, 1);
  assert.equal(JSON.parse(retired.stdout).error.code, 'server_key_mismatch');
});

test('--quote-from PROGRAM: report data as hex on stdin, a quote on stdout; a failing program is quote_failed', () => {
  const good = path.join(tmp, 'quote-ok.sh');
  fs.writeFileSync(good, `#!/bin/sh\nread rd\nexec "${process.execPath}" "${BIN}" sim quote --pki "${path.join(tmp, 'data', 'sim-pki')}" --report-data "$rd" --format base64\n`, { mode: 0o755 });
  const r = attest(['--quote-from', good, '--secret', 'demo-sefs-key', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).policy, 'dev-demo');
  const badProgram = path.join(tmp, 'quote-fail.sh');
  fs.writeFileSync(badProgram, '#!/bin/sh\necho "no /dev/sgx here" >&2\nexit 3\n', { mode: 0o755 });
  const bad = attest(['--quote-from', badProgram, '--secret', 'demo-sefs-key', '--json']);
  assert.equal(bad.status, 1);
  const e = JSON.parse(bad.stdout).error;
  assert.equal(e.code, 'quote_failed');
  assert.match(e.message, /exited with 3: no \/dev\/sgx here/);
});

test('client attest usage errors exit 2; an unreachable server exits 1 with server_unreachable', () => {
  for (const args of [
    ['--dev'],
    ['--secret', 'x'],
    ['--secret', 'x', '--dev', '--quote-from', '/bin/true'],
    ['--secret', 'x', '--quote-from', '/bin/true', '--debug'],
    ['--secret', 'x', '--dev', '--mrenclave', 'zz'],
    ['--secret', 'x', '--dev', '--server-key', 'AAAA'],
  ]) {
    const r = attest(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const down = warden(['client', 'attest', '--server', 'https://127.0.0.1:1', '--dev', '--secret', 'demo-sefs-key', '--json']);
  assert.equal(down.status, 1);
  assert.equal(JSON.parse(down.stdout).error.code, 'server_unreachable');
});

test('policy test --dev agrees with the server: the demo policy releases demo-sefs-key, which exists', () => {
  fs.writeFileSync(path.join(tmp, 'q.bin'), warden(['sim', 'quote', '--format', 'hex']).stdout);
  const r = warden(['policy', 'test', '--dev', '--quote', 'q.bin', '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.allowed, true);
  assert.deepEqual(j.secretsExist, [{ name: 'demo-sefs-key', exists: true }]);
  assert.equal(j.serverWouldRelease, true);
  const v = warden(['verify', '--dev', '--quote', 'q.bin', '--json']);
  assert.equal(v.status, 0, v.stdout);
  assert.equal(JSON.parse(v.stdout).status, 'UpToDate');
  // verify --batch --dev trusts the same simulated root: a line that names no root verifies under it.
  const c = warden(['sim', 'collateral', '--fmspc', DEFAULT_FMSPC, '--out', 'c.json']);
  assert.equal(c.status, 0, c.stderr);
  const b = spawnSync(process.execPath, [BIN, 'verify', '--batch', '-', '--dev'], {
    cwd: tmp,
    env,
    encoding: 'utf8',
    input: JSON.stringify({ quote: 'q.bin', collateral: 'c.json', id: 1 }) + '\n',
  });
  assert.equal(b.status, 0, b.stdout + b.stderr);
  assert.deepEqual([JSON.parse(b.stdout).id, JSON.parse(b.stdout).status], [1, 'UpToDate']);
});

test('policy test and policy check --data name a released secret that does not exist, as the server would refuse it', () => {
  const pol = path.join(tmp, 'pol-missing');
  fs.mkdirSync(pol);
  fs.writeFileSync(
    path.join(pol, 'app.yaml'),
    `name: app\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 0\nsecrets:\n  - app-key\n`,
  );
  const r = warden(['policy', 'test', '--dev', '--quote', 'q.bin', '--policies', pol, '--json']);
  assert.equal(r.status, 1, 'the server would refuse: exit 1');
  const j = JSON.parse(r.stdout);
  assert.equal(j.allowed, true, 'the policies allow');
  assert.deepEqual(j.secretsExist, [{ name: 'app-key', exists: false }, { name: 'demo-sefs-key', exists: true }]);
  assert.equal(j.serverWouldRelease, false);
  const human = warden(['policy', 'test', '--dev', '--quote', 'q.bin', '--policies', pol]);
  assert.match(human.stdout, /secret app-key: MISSING from .*warden secret create app-key/);
  const check = warden(['policy', 'check', pol, '--data', 'data', '--json']);
  assert.equal(check.status, 0, 'a warning, not an error');
  assert.deepEqual(JSON.parse(check.stdout).warnings.map((w: { code: string }) => w.code), ['min_isvsvn_missing', 'secret_missing']);
});

test('SIGHUP and `warden policy reload` reload the policies; a broken set keeps the old one in force', async () => {
  const broken = path.join(tmp, 'policies', 'zz-broken.yaml');
  fs.writeFileSync(broken, 'name: broken\n');
  const reload = warden(['policy', 'reload', '--dev', '--server', dev.url, '--json']);
  assert.equal(reload.status, 1);
  assert.equal(JSON.parse(reload.stdout).error.code, 'policy_load_failed');
  dev.proc.kill('SIGHUP');
  await waitFor(() => /SIGHUP: policies NOT reloaded, the previous set stays in force: .*zz-broken\.yaml/.test(dev.err()));
  assert.equal(dev.proc.exitCode, null, 'SIGHUP does not stop the server');
  assert.equal(attest(['--dev', '--secret', 'demo-sefs-key']).status, 0, 'the old set is still in force');

  fs.rmSync(broken);
  fs.writeFileSync(
    path.join(tmp, 'policies', 'zz-debug.yaml'),
    `name: zz-debug\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 0\ndebug: allow\nsecrets:\n  - demo-sefs-key\n`,
  );
  dev.proc.kill('SIGHUP');
  // The policy files (the shipped examples and zz-debug) plus the two built into --dev.
  const count = fs.readdirSync(path.join(tmp, 'policies')).filter((f) => f.endsWith('.yaml')).length + 2;
  await waitFor(() => new RegExp(`SIGHUP: policies reloaded: ${count} policies`).test(dev.err()));
  assert.equal(attest(['--dev', '--secret', 'demo-sefs-key', '--debug']).status, 0, 'the new policy is in force');
  fs.rmSync(path.join(tmp, 'policies', 'zz-debug.yaml'));
  const ok = warden(['policy', 'reload', '--dev', '--server', dev.url]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /policies reloaded on .*dev-demo v1/);
  assert.equal(attest(['--dev', '--secret', 'demo-sefs-key', '--debug']).status, 1);
  const audit = JSON.parse(warden(['audit', 'list', '--type', 'admin', '--json']).stdout).entries as Array<{ actor: string; outcome: string }>;
  assert.ok(audit.some((e) => e.actor === 'signal:SIGHUP' && e.outcome === 'failed'));
  assert.ok(audit.some((e) => e.actor === 'signal:SIGHUP' && e.outcome === 'ok'));
});

test('without --dev the demo policy and secret do not exist, on the same directories', async () => {
  await stop(dev);
  // A restart keeps the development token.
  const token = fs.readFileSync(path.join(tmp, 'data', 'dev-admin-token'), 'utf8').trim();
  const again = await serve(['--dev', '--port', '0']);
  assert.match(again.out(), new RegExp(`admin token: +${token}`));
  await stop(again);

  const pki = SimPki.fromJSON(JSON.parse(fs.readFileSync(path.join(tmp, 'data', 'sim-pki', 'pki.json'), 'utf8')) as unknown);
  const pccs: PccsServer = await startPccsServer({ pki });
  try {
    const prod = await serve([
      '--port', '0', '--host', '127.0.0.1', '--root-ca', 'data/sim-pki/root_ca.pem', '--pccs', pccs.url,
      '--master-key-file', 'data/master.key', '--log-level', 'warn',
    ]);
    assert.doesNotMatch(prod.out(), /admin token|dev-demo/);
    const r = await wardenAsync(['client', 'attest', '--server', prod.url, '--dev', '--secret', 'demo-sefs-key', '--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(JSON.parse(r.stdout).error.code, 'policy_denied', r.stdout + prod.err());
    assert.match(JSON.parse(r.stdout).error.message, /identity_not_listed/);
    const ca = fs.readFileSync(path.join(tmp, 'certs', 'ca.pem'), 'utf8');
    const list = await request(prod.url, ca, 'GET', '/v1/admin/secrets', undefined, { authorization: `Bearer ${token}` });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.secrets, []);
    await stop(prod);
  } finally {
    await pccs.close();
  }
});

async function waitFor(cond: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
