// The init's side of the wire format against the golden vectors (test/vectors/protocol-v1.json), the same file
// test/protocol.test.ts checks the server's side against: occlum-image/build/TOOLCHAIN/protocol_vectors runs
// init/protocol.c and init/hpke.c, as linked into the init, over every vector (reportData, serverKeyId, the
// secrets' info and opening, the attest request body member by member), for the glibc and the musl build.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VECTORS, VECTORS_FILE, type GoldenVectors } from './helpers/enclave-side.ts';
import { BUILD_TIMEOUT_MS, INIT_BUILDS, buildOcclumImage } from './occlum-helpers.ts';

for (const build of INIT_BUILDS) describe(`occlum init (${build.toolchain} build) against the golden protocol vectors`, { skip: build.skip }, () => {
  const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-vectors-'));
  before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const run = (file: string) => spawnSync(build.protocolVectors, [file], { encoding: 'utf8' });

  it('computes the same reportData, serverKeyId, secret info and attest request body, and opens every secret', () => {
    const r = run(VECTORS_FILE);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^0 failure\(s\)$/m);
    const checks = ['reportData', 'serverKeyId', 'suite', 'attest body member serverKeyId', 'attest body member nonce', 'attest body member publicKey', 'attest body member secrets'];
    for (const s of VECTORS.secrets) checks.push(`secret ${s.name}: opens to value`, `secret ${s.name} info`, `secret ${s.name}: another sender key does not open`);
    for (const c of checks) assert.match(r.stdout, new RegExp(`^ok ${c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm'), `missing check: ${c}`);
  });

  it('fails on a vector file that disagrees: another serverKeyId, a changed ciphertext, a member the init does not send', () => {
    const v = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as GoldenVectors & { attestRequest: Record<string, unknown> };
    v.serverKey.serverKeyId = `${v.serverKey.serverKeyId.slice(0, 63)}${v.serverKey.serverKeyId.endsWith('0') ? '1' : '0'}`;
    v.attestRequest.serverKeyId = v.serverKey.serverKeyId;
    const ct = Buffer.from(v.secrets[1]!.ciphertext, 'hex');
    ct[5]! ^= 1; // (the program's own tamper check flips byte 0)
    v.secrets[1]!.ciphertext = ct.toString('hex');
    v.attestRequest['extra'] = 'x';
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify(v));
    const r = run(file);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const failed = r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
    assert.deepEqual(failed, [
      'FAIL serverKeyId',
      `FAIL secret ${v.secrets[1]!.name}: opens to value`,
      'FAIL attest body: has as many members as attestRequest',
      'FAIL attest body member serverKeyId: equal',
      'FAIL attest body member extra: missing',
    ]);
  });
});
