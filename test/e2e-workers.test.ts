// `warden serve --workers N`: N server processes (node:cluster) on one port and one SQLite file. What
// enclaves rely on: the same keys from every worker, a nonce issued by one worker usable (once) at
// another, one audit chain; and what operators rely on: one announcement, a clean stop, and no server
// left half-running when a worker dies.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadOrCreateSimPki } from '../src/cli/sim.ts';
import { parseServeArgs } from '../src/cli/config.ts';
import { UsageError } from '../src/cli/io.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import type { SimPki } from '../src/sim/pki.ts';
import { Enclave, request } from './e2e-harness.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-workers-'));
let pki: SimPki;

function warden(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
}

interface Served {
  proc: ChildProcess;
  url: string;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

async function serve(workers: number): Promise<Served> {
  const proc = spawn(
    process.execPath,
    [BIN, 'serve', '--dev', '--data', 'data', '--sim-pki', 'sim', '--policies', 'policies', '--host', '127.0.0.1', '--port', '0', '--workers', String(workers), '--log-level', 'warn'],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /warden listening on (https:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { proc, url, out: () => out, err: () => err, exit };
}

/** Worker pids of a primary, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const servers: Served[] = [];
let ca = '';

before(async () => {
  pki = await loadOrCreateSimPki(path.join(tmp, 'sim'));
  fs.mkdirSync(path.join(tmp, 'policies'));
  fs.writeFileSync(
    path.join(tmp, 'policies', 'app.yaml'),
    `name: app\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 1\nsecrets:\n  - app-fs-key\n`,
  );
  const sec = warden(['secret', 'create', 'app-fs-key', '--kind', 'sefs-key', '--dev', '--data', 'data']);
  assert.equal(sec.status, 0, sec.stderr);
});

after(async () => {
  for (const s of servers) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill('SIGTERM');
      await s.exit;
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('warden serve --workers 2', () => {
  let s: Served;
  before(async () => {
    s = await serve(2);
    servers.push(s);
    ca = fs.readFileSync(path.join(tmp, 'certs', 'ca.pem'), 'utf8');
  });

  test('runs two worker processes and announces once', { skip: !fs.existsSync('/proc/self/task') && 'no /proc' }, () => {
    assert.equal(childrenOf(s.proc.pid!).length, 2);
    assert.equal(s.out().match(/HPKE public key/g)?.length, 1);
    assert.match(s.out(), /warden listening on https:\/\/127\.0\.0\.1:\d+ \(2 worker processes\)/);
    assert.equal(s.err().match(/DEVELOPMENT MODE/g)?.length, 1, 'banners printed once, by the primary');
  });

  test('every worker serves the same HPKE key and token keys', async () => {
    // request() opens a new connection each time; the primary hands connections to workers in turn.
    const answers = await Promise.all(Array.from({ length: 6 }, () => request(s.url, ca, 'GET', '/v1/server-keys')));
    const jwks = await Promise.all(Array.from({ length: 6 }, () => request(s.url, ca, 'GET', '/.well-known/jwks.json')));
    assert.equal(new Set(answers.map((a) => a.json.hpke.publicKey as string)).size, 1);
    assert.equal(new Set(jwks.map((a) => JSON.stringify(a.json))).size, 1);
    assert.match(s.out(), new RegExp(`HPKE public key \\(pin in enclave images\\): ${answers[0]!.json.hpke.publicKey.replace(/[+/]/g, '\\$&')}`));
  });

  test('a nonce from one connection releases at another once, then is refused; the audit chain stays whole', async () => {
    const hpke = Buffer.from((await request(s.url, ca, 'GET', '/v1/server-keys')).json.hpke.publicKey, 'base64');
    const e = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvSvn: 1 });
    const release = async () => {
      const c = (await request(s.url, ca, 'POST', '/v1/challenge')).json;
      const nonce = Buffer.from(c.nonce, 'base64');
      const body = { nonce: c.nonce, quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['app-fs-key'] };
      const r = await request(s.url, ca, 'POST', '/v1/attest', body);
      return { nonce, body, r };
    };
    // Concurrent releases over fresh connections land on both workers.
    const all = await Promise.all(Array.from({ length: 12 }, release));
    for (const { nonce, r } of all) {
      assert.equal(r.status, 200, r.text);
      assert.equal(e.open(hpke, nonce, r.json.secrets[0]).length, 16);
    }
    // Replays, each over a new connection (so on either worker): every one refused.
    const replays = await Promise.all(all.slice(0, 4).map(({ body }) => request(s.url, ca, 'POST', '/v1/attest', body)));
    for (const r of replays) {
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.error.code, 'nonce_used');
    }
    const audit = warden(['audit', 'verify', '--dev', '--data', 'data']);
    assert.equal(audit.status, 0, audit.stdout + audit.stderr);
  });

  test('one nonce raced over fresh connections to both workers: exactly one release', async () => {
    // Two processes on one SQLite file, each consuming the same nonce at the same moment: the consumed-nonce
    // insert is atomic in the database, not in either process (issue #12: a race test that races).
    const e = new Enclave(await pki.platform({}), { ...SIM_ENCLAVE, isvSvn: 1 });
    for (let round = 0; round < 3; round++) {
      const c = (await request(s.url, ca, 'POST', '/v1/challenge')).json;
      const nonce = Buffer.from(c.nonce, 'base64');
      const body = { nonce: c.nonce, quote: e.quoteFor(nonce).toString('base64'), publicKey: e.pkE.toString('base64'), secrets: ['app-fs-key'] };
      const results = await Promise.all(Array.from({ length: 16 }, () => request(s.url, ca, 'POST', '/v1/attest', body)));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(15).fill(401)], results.map((r) => r.text).join('\n'));
      for (const r of results.filter((x) => x.status === 401)) assert.equal(r.json.error.code, 'nonce_used');
    }
  });

  test('/metrics from either worker counts the requests every worker served', async () => {
    const scrape = async () => {
      const r = await request(s.url, ca, 'GET', '/metrics');
      assert.equal(r.status, 200, r.text);
      const value = (re: RegExp, missing = NaN) => Number(r.text.split('\n').find((l) => re.test(l))?.split(' ').pop() ?? missing);
      return {
        processes: value(/^warden_server_processes /),
        challenges: value(/^warden_http_request_duration_seconds_count\{(?=.*route="\/v1\/challenge")(?=.*status="200")/, 0),
      };
    };
    const before = await scrape();
    assert.equal(before.processes, 2);
    // Fresh connections: the primary hands them to the workers in turn, so both serve some.
    for (let i = 0; i < 8; i++) assert.equal((await request(s.url, ca, 'POST', '/v1/challenge')).status, 200);
    for (let i = 0; i < 4; i++) {
      const after = await scrape();
      assert.deepEqual(after, { processes: 2, challenges: before.challenges + 8 }, `scrape ${i + 1}`);
    }
  });

  test('SIGTERM to the primary stops every worker and exits 0', async () => {
    const workers = childrenOf(s.proc.pid!);
    s.proc.kill('SIGTERM');
    assert.equal(await s.exit, 0);
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still running`);
  });
});

test('when a worker dies, the primary stops the others and exits 1', { skip: !fs.existsSync('/proc/self/task') && 'no /proc' }, async () => {
  const s = await serve(2);
  servers.push(s);
  const [victim, other] = childrenOf(s.proc.pid!);
  assert.ok(victim && other);
  process.kill(victim, 'SIGKILL');
  assert.equal(await s.exit, 1);
  assert.equal(alive(other), false);
  assert.match(s.err(), /worker \d+ exited \(SIGKILL\)/);
});

test('--workers: a number from 1 to 64, or auto', () => {
  assert.equal(parseServeArgs([]).workers, 1);
  assert.equal(parseServeArgs(['--workers', '3']).workers, 3);
  assert.ok(parseServeArgs(['--workers', 'auto']).workers >= 1);
  for (const bad of ['0', '65', 'two', '-1']) assert.throws(() => parseServeArgs(['--workers', bad]), UsageError, bad);
});
