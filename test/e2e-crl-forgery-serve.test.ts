// Issue #10, finding 1, through a running server: `warden serve` (a child process, real sockets) gets its
// CRLs from a PCCS that serves a forged CRL (a genuine one's signature bytes on other contents) before and
// after the genuine one. The forged CRL is refused whichever came first: it never un-revokes a revoked
// platform, and it never makes the genuine CRL fail. Done for the PCK CRL and the root CA CRL.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { parseCrl } from '../src/dcap/crl.ts';
import { SIM_ENCLAVE } from '../src/sim/report.ts';
import { SimPki } from '../src/sim/pki.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import { startPccsServer, type PccsServer } from '../src/sim/pccs-server.ts';
import { Enclave, request } from './e2e-harness.ts';
import { pushNextUpdate, unrevoke } from './helpers/forge.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/warden.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-crl-serve-'));
const env = { ...process.env, WARDEN_TEST_MK: crypto.randomBytes(32).toString('hex') };
const MK = ['--master-key-env', 'WARDEN_TEST_MK'];
/** How long the genuine CRL stays valid once made: long enough to be fetched and used, short enough to wait out. */
const GENUINE_FOR_MS = 12_000;
let pki: SimPki;
let ca = '';
const children: ChildProcess[] = [];
const pccses: PccsServer[] = [];

function warden(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `warden ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  pki = await SimPki.create();
  fs.writeFileSync(path.join(tmp, 'root.pem'), pki.rootPem);
  fs.mkdirSync(path.join(tmp, 'policies'));
  fs.writeFileSync(
    path.join(tmp, 'policies', 'app.yaml'),
    `name: app\nversion: 1\nmatch:\n  - mrenclave: ${SIM_ENCLAVE.mrEnclave.toString('hex')}\n    min_isvsvn: 1\nsecrets:\n  - app-fs-key\n`,
  );
  warden(['certs', 'init', '--dir', 'certs', '--hosts', '127.0.0.1']);
  ca = fs.readFileSync(path.join(tmp, 'certs', 'ca.pem'), 'utf8');
  // One data directory per server: each has its own collateral cache, so the two runs cannot meet.
  for (const data of ['data-pck', 'data-root']) warden(['secret', 'create', 'app-fs-key', '--kind', 'sefs-key', '--data', data, ...MK]);
});

after(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  for (const p of pccses) await p.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function serve(pccsUrl: string, data: string): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--root-ca', 'root.pem', '--pccs', pccsUrl, '--data', data, ...MK, '--log-level', 'warn'], {
    cwd: tmp,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /warden listening on (https:\/\/[^\s]+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

/** One attestation of the platform's enclave: the HTTP status and error code (or 'released'). */
async function attest(url: string, platform: SimPlatform): Promise<string> {
  const c = (await request(url, ca, 'POST', '/v1/challenge')).json;
  const e = new Enclave(platform, { ...SIM_ENCLAVE, isvSvn: 1 });
  const r = await request(url, ca, 'POST', '/v1/attest', {
    nonce: c.nonce,
    quote: e.quoteFor(Buffer.from(c.nonce, 'base64')).toString('base64'),
    publicKey: e.pkE.toString('base64'),
    secrets: ['app-fs-key'],
  });
  return r.status === 200 ? '200 released' : `${r.status} ${r.json?.error?.code}`;
}

/**
 * Forged first, genuine second, then (once the genuine one has expired and the server must fetch again)
 * forged again. `which` names the CRL forged; the genuine one revokes the platform (its PCK certificate,
 * or its PCK CA in the root CA CRL) and the forged one drops that entry and moves nextUpdate ten years on.
 */
async function run(which: 'pck' | 'root', fmspc: string): Promise<string[]> {
  const platform = await pki.platform({ fmspc });
  const revokes = which === 'pck' ? platform.serialNumber : pki.processorCa.serialNumber;
  const pccs = await startPccsServer({ pki });
  pccses.push(pccs);
  const url = await serve(pccs.url, `data-${which}`);
  const genuineFor = async () => {
    const now = new Date();
    const ov = { revoked: [revokes], nextUpdate: new Date(now.getTime() + GENUINE_FOR_MS) };
    return which === 'pck' ? pki.pckCrl('processor', ov, now) : pki.rootCrl(ov, now);
  };
  const forgedFrom = (genuine: Buffer) => pushNextUpdate(unrevoke(genuine, revokes), parseCrl(genuine).nextUpdate!);
  const serveCrl = (der: Buffer) => pccs.setCollateralOptions(which === 'pck' ? { pckCrlDer: der } : { rootCrlDer: der });
  const seen: string[] = [];

  // The forged CRL first: the genuine one has never been checked in this process.
  const genuine = await genuineFor();
  serveCrl(forgedFrom(genuine));
  seen.push(await attest(url, platform));
  // Then the genuine one: it must verify (and revoke), not inherit the forged one's failure.
  serveCrl(genuine);
  seen.push(await attest(url, platform));
  // The forged one again, once the genuine one has expired: the server fetches, and must refuse it.
  serveCrl(forgedFrom(genuine));
  const wait = parseCrl(genuine).nextUpdate!.getTime() + 1000 - Date.now();
  if (wait > 0) await sleep(wait);
  seen.push(await attest(url, platform));
  return seen;
}

test('a running server refuses a forged PCK CRL and root CA CRL fetched before or after the genuine one', async () => {
  const [pck, root] = await Promise.all([run('pck', '00906ed5aa01'), run('root', '00906ed5aa02')]);
  const expected = ['503 collateral_unavailable', '403 revoked', '503 collateral_unavailable'];
  assert.deepEqual(pck, expected, 'PCK CRL: forged, genuine, forged');
  assert.deepEqual(root, expected, 'root CA CRL: forged, genuine, forged');
});
