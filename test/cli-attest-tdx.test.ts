// A TDX guest through `warden client attest` against a real `warden serve --dev` (issue #17): --quote-from runs a
// program that reads the report data and prints the TD's quote, as a TD's quote tool does (Linux configfs-tsm:
// report data into inblob, the quote out of outblob, raw bytes); a `tee: tdx` policy releases the secret, which the
// client opens; the same program with a debug TD, and an enclave's quote, are refused. `--dev --tee tdx` makes the
// quote itself, for the built-in dev-demo-td policy.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { SIM_TD } from '../src/sim/td-report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-attest-tdx-'));
const env: NodeJS.ProcessEnv = { ...process.env, WARDEN_DATA: '', WARDEN_SERVER: '', WARDEN_ADMIN_TOKEN: '' };
const hex = (b: Buffer) => b.toString('hex');
let server: ChildProcess | undefined;
let url = '';
let serverOut = '';
const diskKey = crypto.randomBytes(32);

function warden(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 120_000 });
}

/** A TD's quote program: one line of report-data hex in, the raw quote bytes out (`extra`: the TD it pretends to be). */
function quoteProgram(name: string, extra: string): string {
  const file = path.join(tmp, name);
  const sim = `"${process.execPath}" "${BIN}" sim quote --tee tdx --pki "${path.join(tmp, 'data', 'sim-pki')}"`;
  fs.writeFileSync(file, `#!/bin/sh\nread rd\nexec ${sim} ${extra} --report-data "$rd" --format bin\n`, { mode: 0o755 });
  return file;
}

before(async () => {
  fs.mkdirSync(path.join(tmp, 'policies'));
  fs.writeFileSync(
    path.join(tmp, 'policies', 'vm.yaml'),
    ['name: vm', 'version: 1', 'tee: tdx', 'match:', `  - mrtd: ${hex(SIM_TD.mrTd)}`, `    rtmr0: ${hex(SIM_TD.rtmr0)}`, `    rtmr1: ${hex(SIM_TD.rtmr1)}`, `    rtmr2: ${hex(SIM_TD.rtmr2)}`, 'secrets: [vm-disk]', ''].join('\n'),
  );
  const proc = spawn(process.execPath, [BIN, 'serve', '--dev', '--port', '0'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server = proc;
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 120_000);
    proc.stdout!.on('data', (d: Buffer) => {
      serverOut += d.toString();
      const m = /warden listening on (https?:\/\/\S+)/.exec(serverOut);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  fs.writeFileSync(path.join(tmp, 'disk.key'), diskKey);
  const c = warden(['secret', 'create', 'vm-disk', '--kind', 'bytes', '--from', 'disk.key', '--dev']);
  assert.equal(c.status, 0, c.stderr);
});

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const attest = (args: string[]) => warden(['client', 'attest', '--server', url, ...args]);

test('client attest --quote-from a TD quote program: the tee: tdx policy releases the secret, the client opens it', () => {
  const out = path.join(tmp, 'released');
  const r = attest(['--quote-from', quoteProgram('td-quote.sh', ''), '--secret', 'vm-disk', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.ok, true);
  assert.equal(j.policy, 'vm');
  assert.equal(j.tcbStatus, 'UpToDate');
  assert.deepEqual(j.secrets, [{ name: 'vm-disk', version: 1, sha256: crypto.createHash('sha256').update(diskKey).digest('hex') }]);
  assert.ok(fs.readFileSync(path.join(out, 'vm-disk')).equals(diskKey), 'the opened value is the stored one');
  assert.deepEqual(Object.keys(j.token.claims.submods), ['tdx']);
  assert.equal(j.token.claims.submods.tdx['warden.tdx'].mrtd, hex(SIM_TD.mrTd));
  assert.equal(j.token.claims['warden.root'], 'simulated');
  // The human summary reads the TD's submodule.
  const human = attest(['--quote-from', quoteProgram('td-quote.sh', ''), '--secret', 'vm-disk']);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /policy vm; TCB status UpToDate; ear\.status affirming/);
});

test('client attest --quote-from: a debug TD, a TD with another RTMR2, and an enclave asking for the TD\'s secret are refused', () => {
  const debug = attest(['--quote-from', quoteProgram('td-debug.sh', '--debug'), '--secret', 'vm-disk', '--json']);
  assert.equal(debug.status, 1);
  assert.equal(JSON.parse(debug.stdout).error.code, 'policy_denied');
  assert.match(JSON.parse(debug.stdout).error.message, /vm\/debug/);
  const other = attest(['--quote-from', quoteProgram('td-other.sh', `--rtmr2 ${'ab'.repeat(48)}`), '--secret', 'vm-disk', '--json']);
  assert.equal(other.status, 1);
  assert.equal(JSON.parse(other.stdout).error.code, 'policy_denied');
  const enclave = attest(['--dev', '--secret', 'vm-disk', '--json']);
  assert.equal(enclave.status, 1);
  assert.equal(JSON.parse(enclave.stdout).error.code, 'policy_denied');
});

test('client attest --dev --tee tdx: the sim TD gets demo-sefs-key from the built-in dev-demo-td policy; a debug TD does not', () => {
  assert.match(serverOut, /dev-demo-td/);
  const r = attest(['--dev', '--tee', 'tdx', '--secret', 'demo-sefs-key', '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.policy, 'dev-demo-td');
  assert.deepEqual(Object.keys(j.token.claims.submods), ['tdx']);
  // The same demo value as the enclave gets (one secret, two policies).
  const sgx = JSON.parse(attest(['--dev', '--secret', 'demo-sefs-key', '--json']).stdout);
  assert.equal(sgx.policy, 'dev-demo');
  assert.equal(sgx.secrets[0].sha256, j.secrets[0].sha256);
  const debug = attest(['--dev', '--tee', 'tdx', '--debug', '--secret', 'demo-sefs-key', '--json']);
  assert.equal(debug.status, 1);
  assert.match(JSON.parse(debug.stdout).error.message, /dev-demo-td\/debug/);
  const otherTd = attest(['--dev', '--tee', 'tdx', '--mrtd', 'cd'.repeat(48), '--secret', 'demo-sefs-key', '--json']);
  assert.equal(otherTd.status, 1);
  assert.equal(JSON.parse(otherTd.stdout).error.code, 'policy_denied');
});

test('client attest: --tee and --mrtd go with --dev, --mrtd with --tee tdx, SGX identity flags not with it (usage, exit 2)', () => {
  for (const args of [
    ['--secret', 'x', '--quote-from', '/bin/true', '--tee', 'tdx'],
    ['--secret', 'x', '--dev', '--mrtd', 'cd'.repeat(48)],
    ['--secret', 'x', '--dev', '--tee', 'tdx', '--mrenclave', 'ab'.repeat(32)],
    ['--secret', 'x', '--dev', '--tee', 'sev'],
    ['--secret', 'x', '--dev', '--tee', 'tdx', '--mrtd', 'cd'],
  ]) {
    const r = attest(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
