// The LD_PRELOAD harness (occlum-image/test/harness.c) must behave like Occlum where the init touches it:
// /dev/sgx quotes over the caller's report data (from `warden sim quote`), EBUSY, and syscall 363 once.
// It drives the init's own quote.c/rootfs.c through occlum-image/build/sgx_probe.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseQuote } from '../src/dcap/quote.ts';
import { BUILD_DIR, HARNESS_LIB, WARDEN_BIN, buildOcclumImage } from './occlum-helpers.ts';

const PROBE = join(BUILD_DIR, 'sgx_probe');
const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-harness-'));
const MRENCLAVE = crypto.randomBytes(32).toString('hex');
const KEY = crypto.randomBytes(16).toString('hex');

function probe(opts: { reportData: Buffer; quoteCmd: string; mounts?: number; env?: Record<string, string>; preload?: boolean }) {
  const quoteOut = join(tmp, `q-${crypto.randomUUID()}.bin`);
  const mountLog = join(tmp, `m-${crypto.randomUUID()}.log`);
  const r = spawnSync(PROBE, [opts.reportData.toString('hex'), quoteOut, KEY, String(opts.mounts ?? 0)], {
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      ...(opts.preload === false ? {} : { LD_PRELOAD: HARNESS_LIB }),
      WARDEN_HARNESS_QUOTE_CMD: opts.quoteCmd,
      WARDEN_HARNESS_MOUNT_LOG: mountLog,
      ...opts.env,
    },
  });
  let mounts: Array<{ key: string | null; rootfsConfig: string | null }> = [];
  try {
    mounts = readFileSync(mountLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; rootfsConfig: null });
  } catch {
    // no mount call: no log
  }
  return { ...r, quoteOut, mountLog, mounts: mounts.map((m) => ({ key: m.key, rootfsConfig: m.rootfsConfig })) };
}

describe('occlum LD_PRELOAD harness', () => {
  let savedQuote = '';
  const cat = () => `cat '${savedQuote}'; true`; // the appended report data goes to `true`

  before(() => buildOcclumImage());
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('answers the quote ioctls with a `warden sim quote` over the caller\'s report data, trimmed to its length', () => {
    const reportData = crypto.randomBytes(64);
    const cmd = `'${process.execPath}' '${WARDEN_BIN}' sim quote --pki '${join(tmp, 'pki')}' --mrenclave ${MRENCLAVE} --isvsvn 3 --format bin --report-data`;
    const r = probe({ reportData, quoteCmd: cmd, mounts: 2 });
    assert.equal(r.status, 8, r.stderr);
    const quote = readFileSync(r.quoteOut);
    const parsed = parseQuote(quote);
    assert.equal(parsed.body.reportData.toString('hex'), reportData.toString('hex'));
    assert.equal(parsed.body.mrEnclave.toString('hex'), MRENCLAVE);
    assert.equal(parsed.body.isvSvn, 3);
    assert.equal(quote.length, 48 + 384 + 4 + quote.readUInt32LE(432), 'no padding after the signature data');
    // syscall 363: the first call is recorded with its key, the second is refused like Occlum does (EPERM).
    assert.deepEqual(r.mounts, [{ key: KEY, rootfsConfig: null }, { key: KEY, rootfsConfig: null }]);
    assert.match(r.stderr, /mount failed: syscall 363 errno 1 \(Operation not permitted\)/);
    savedQuote = r.quoteOut;
  });

  it('a busy quoting enclave is retried a bounded number of times', () => {
    const ok = probe({ reportData: Buffer.alloc(64), quoteCmd: cat(), env: { WARDEN_HARNESS_QUOTE_BUSY: '3' } });
    assert.equal(ok.status, 0, ok.stderr);
    const busy = probe({ reportData: Buffer.alloc(64), quoteCmd: cat(), env: { WARDEN_HARNESS_QUOTE_BUSY: '1000' } });
    assert.equal(busy.status, 6);
    assert.match(busy.stderr, /^quote failed: SGXIOC_GEN_DCAP_QUOTE: Device or resource busy \(still busy after retries\)\n$/);
  });

  it('a failing quote command is EIO, reported as DCAP not ready', () => {
    const r = probe({ reportData: Buffer.alloc(64), quoteCmd: 'exit 3;' });
    assert.equal(r.status, 6);
    assert.match(r.stderr, /quote failed: SGXIOC_GEN_DCAP_QUOTE: Input\/output error \(DCAP not ready/);
  });

  it('can be told to fail the mount, and records the attempt', () => {
    const r = probe({ reportData: Buffer.alloc(64), quoteCmd: cat(), mounts: 1, env: { WARDEN_HARNESS_MOUNT_FAIL: 'EACCES' } });
    assert.equal(r.status, 8);
    assert.match(r.stderr, /^mount failed: syscall 363 errno 13 \(Permission denied\) \(wrong key or image MAC/);
    assert.deepEqual(r.mounts, [{ key: KEY, rootfsConfig: null }]);
  });

  it('with WARDEN_HARNESS_MOUNT_KEY, another key gets EACCES and that key mounts once (the e2e tests show an EACCES is not a mount)', () => {
    const other = crypto.randomBytes(16).toString('hex');
    const wrong = probe({ reportData: Buffer.alloc(64), quoteCmd: cat(), mounts: 2, env: { WARDEN_HARNESS_MOUNT_KEY: other } });
    assert.equal(wrong.status, 8);
    assert.match(wrong.stderr, /^mount failed: syscall 363 errno 13 \(Permission denied\)/);
    assert.deepEqual(wrong.mounts, [{ key: KEY, rootfsConfig: null }], 'the probe stops at the first failure');
    // The right key mounts once; a second call is EPERM as in Occlum.
    const right = probe({ reportData: Buffer.alloc(64), quoteCmd: cat(), mounts: 2, env: { WARDEN_HARNESS_MOUNT_KEY: KEY } });
    assert.equal(right.status, 8);
    assert.match(right.stderr, /^mount failed: syscall 363 errno 1 \(Operation not permitted\)/);
    const log = readFileSync(right.mountLog, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { errno: number }).errno);
    assert.deepEqual(log, [0, 1]);
  });

  it('without the harness there is no /dev/sgx: the init code says so', () => {
    const r = probe({ reportData: Buffer.alloc(64), quoteCmd: 'false', preload: false });
    assert.equal(r.status, 6);
    assert.match(r.stderr, /^quote failed: cannot open \/dev\/sgx: No such file or directory/);
  });
});
