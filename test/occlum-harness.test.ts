// The LD_PRELOAD harness (occlum-image/test/harness.c) must answer as Occlum's source does where the init
// touches it, for the glibc and the musl build alike: /dev/sgx quotes over the caller's report data (from
// `warden sim quote`), EINVAL for every quote ioctl failure, syscall 363 once (EPERM after), a wrong key
// EIO (and retryable), and EINVAL for a NULL second argument when it plays Occlum 0.29.5 or branch 1.0.
// It drives the init's own quote.c through occlum-image/build/TOOLCHAIN/sgx_probe, and raw calls.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseQuote } from '../src/dcap/quote.ts';
import { BUILD_TIMEOUT_MS, ERRNO, INIT_BUILDS, WARDEN_BIN, buildOcclumImage, readIoctlLog, type InitBuild } from './occlum-helpers.ts';

const { EPERM, ENOENT, EIO, EACCES, EINVAL } = ERRNO;
const EXIT_QUOTE = 6;
const MRENCLAVE = crypto.randomBytes(32).toString('hex');
const KEY = crypto.randomBytes(16).toString('hex');
const OTHER_KEY = crypto.randomBytes(16).toString('hex');

for (const build of INIT_BUILDS) {
  describe(`occlum LD_PRELOAD harness (${build.toolchain} build)`, { skip: build.skip }, () => {
    const tmp = mkdtempSync(join(os.tmpdir(), `warden-occlum-harness-${build.toolchain}-`));
    let savedQuote = '';
    const cat = () => `cat '${savedQuote}'; true`; // the appended report data goes to `true`

    function probe(b: InitBuild, args: string[], o: { quoteCmd?: string; env?: Record<string, string>; preload?: boolean } = {}) {
      const ioctlLog = join(tmp, `i-${crypto.randomUUID()}.log`);
      const r = spawnSync(b.sgxProbe, args, {
        encoding: 'utf8',
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          ...(o.preload === false ? {} : { LD_PRELOAD: b.harness }),
          WARDEN_HARNESS_QUOTE_CMD: o.quoteCmd ?? cat(),
          WARDEN_HARNESS_IOCTL_LOG: ioctlLog,
          ...o.env,
        },
      });
      return { ...r, ioctls: readIoctlLog(ioctlLog) };
    }
    const quote = (o: Parameters<typeof probe>[2] = {}, reportData = Buffer.alloc(64)) => {
      const out = join(tmp, `q-${crypto.randomUUID()}.bin`);
      return { ...probe(build, ['quote', reportData.toString('hex'), out], o), out };
    };
    const mounts = (keys: string[], env: Record<string, string> = {}) => {
      const r = probe(build, ['mount', ...keys], { env });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as number[];
    };

    before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it("answers the quote ioctls with a `warden sim quote` over the caller's report data, trimmed to its length", () => {
      const reportData = crypto.randomBytes(64);
      const cmd = `'${process.execPath}' '${WARDEN_BIN}' sim quote --pki '${join(tmp, 'pki')}' --mrenclave ${MRENCLAVE} --isvsvn 3 --format bin --report-data`;
      const r = quote({ quoteCmd: cmd }, reportData);
      assert.equal(r.status, 0, r.stderr);
      const q = readFileSync(r.out);
      const parsed = parseQuote(q);
      assert.ok(parsed.teeType === 'SGX');
      assert.equal(parsed.body.reportData.toString('hex'), reportData.toString('hex'));
      assert.equal(parsed.body.mrEnclave.toString('hex'), MRENCLAVE);
      assert.equal(parsed.body.isvSvn, 3);
      assert.equal(q.length, 48 + 384 + 4 + q.readUInt32LE(432), 'no padding after the signature data');
      assert.deepEqual(r.ioctls, [{ ioctl: 'size', errno: 0 }, { ioctl: 'gen', errno: 0 }]);
      savedQuote = r.out;
    });

    it('every quote ioctl failure is EINVAL: a short buffer, a busy or not ready quoting enclave, an unknown request', () => {
      const short = probe(build, ['gen', '4096']);
      assert.deepEqual(JSON.parse(short.stdout), { size: 16384, errno: EINVAL }, 'a buffer below the quote size');
      const fits = probe(build, ['gen', '16384']);
      assert.deepEqual(JSON.parse(fits.stdout), { size: 16384, errno: 0 }, 'control: a buffer of the quote size');
      const busy = probe(build, ['gen', '16384'], { env: { WARDEN_HARNESS_QUOTE_BUSY: '1' } });
      assert.deepEqual(JSON.parse(busy.stdout), { size: 16384, errno: EINVAL });
      const notReady = probe(build, ['gen', '16384'], { env: { WARDEN_HARNESS_QUOTE_NOT_READY: '1' } });
      assert.deepEqual(JSON.parse(notReady.stdout), { size: 0, errno: EINVAL }, 'already the size ioctl');
      const failing = probe(build, ['gen', '16384'], { quoteCmd: 'exit 3;' });
      assert.deepEqual(JSON.parse(failing.stdout), { size: 16384, errno: EINVAL }, 'the quoting enclave failed');
      const unknown = probe(build, ['ioctl', 'c0187399']);
      assert.equal(Number(unknown.stdout), EINVAL);
    });

    it("the init's quote code retries EINVAL: a quoting enclave busy twice gives a quote at the third try", () => {
      const r = quote({ env: { WARDEN_HARNESS_QUOTE_BUSY: '2' } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.ioctls.map((i) => `${i.ioctl}:${i.errno}`), ['size:0', `gen:${EINVAL}`, `gen:${EINVAL}`, 'gen:0']);
    });

    it('a quoting enclave that stays busy: six tries in all (about 1.6 s), then one line naming the likely causes', () => {
      const r = quote({ env: { WARDEN_HARNESS_QUOTE_BUSY: '1000' } });
      assert.equal(r.status, EXIT_QUOTE);
      assert.match(r.stderr, /^quote failed: SGXIOC_GEN_DCAP_QUOTE: errno 22 EINVAL after 6 tries over 1\.55 s: [^\n]*\n$/);
      assert.match(r.stderr, /AESM/);
      assert.match(r.stderr, /PCCS/);
      assert.match(r.stderr, /quoting enclave/);
      assert.deepEqual(r.ioctls.filter((i) => i.ioctl === 'gen').map((i) => i.errno), Array(6).fill(EINVAL));
    });

    it('DCAP not ready: the size ioctl is retried within the same bound, and the same causes are named', () => {
      const r = quote({ env: { WARDEN_HARNESS_QUOTE_NOT_READY: '1' } });
      assert.equal(r.status, EXIT_QUOTE);
      assert.match(r.stderr, /^quote failed: SGXIOC_GET_DCAP_QUOTE_SIZE: errno 22 EINVAL after 6 tries [^\n]*AESM[^\n]*\n$/);
      assert.deepEqual(r.ioctls.map((i) => i.ioctl), Array(6).fill('size'));
    });

    it('syscall 363 mounts once and answers EPERM after; a failed call leaves it retryable', () => {
      assert.deepEqual(mounts([KEY, KEY]), [0, EPERM]);
      // The image was built with KEY: another key is EIO (nothing mounted), then KEY still mounts, once.
      assert.deepEqual(mounts([OTHER_KEY, KEY, KEY, OTHER_KEY], { WARDEN_HARNESS_MOUNT_KEY: KEY }), [EIO, 0, EPERM, EPERM]);
      assert.deepEqual(mounts(['null', KEY], { WARDEN_HARNESS_MOUNT_KEY: KEY }), [EIO, 0], 'no key for an encrypted image');
      assert.deepEqual(mounts([KEY, KEY], { WARDEN_HARNESS_MOUNT_FAIL: 'EACCES' }), [EACCES, EACCES]);
    });

    it('playing Occlum 0.29.5 or branch 1.0, a NULL second argument is EINVAL; 0.29.6 and later take it', () => {
      for (const version of ['0.29.5', '0.28.1', '1.0']) {
        assert.deepEqual(mounts([KEY, KEY], { WARDEN_HARNESS_OCCLUM: version }), [EINVAL, EINVAL], version);
      }
      for (const version of ['0.29.6', '0.30.1', '0.31.0']) {
        assert.deepEqual(mounts([KEY, KEY], { WARDEN_HARNESS_OCCLUM: version }), [0, EPERM], version);
      }
    });

    it('without the harness there is no /dev/sgx: the init code says so with ENOENT', () => {
      const r = quote({ preload: false });
      assert.equal(r.status, EXIT_QUOTE);
      assert.match(r.stderr, new RegExp(`^quote failed: cannot open /dev/sgx: errno ${ENOENT} ENOENT `));
    });
  });
}
