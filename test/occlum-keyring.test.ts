// Server HPKE keys rotate with an overlap, seen from a deployed image (issue #15 item 4, enclave side): the
// real init binaries (glibc and musl builds) under the LD_PRELOAD harness that stands in for Occlum's
// /dev/sgx and syscall 363, against a real `warden serve --dev` over HTTPS, the operator acting with the
// real `warden admin keys rotate --hpke` / `retire` commands on the server's data directory while it runs.
// An image (its init.json) built pinning key A boots; after a rotation to key B it still boots (sealed with
// A, which it names in its attest request), and an image pinning B boots too; once A is retired the old
// image stops with one line naming server_key_retired and the rebuild, exit 12, nothing mounted, while the
// new one boots on.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILD_TIMEOUT_MS, INIT_BUILDS, WARDEN_BIN, buildOcclumImage, runInitUnderHarness, startDevServe, startQuoteService, type DevServe, type QuoteService } from './occlum-helpers.ts';

// warden-init's exit classes (occlum-image/init/util.h).
const EXIT_SERVER_KEY = 12;
const MRENCLAVE = crypto.randomBytes(32).toString('hex');
const MRSIGNER = crypto.randomBytes(32).toString('hex');
const PRODID = 4;
const SVN = 7;

interface KeysView {
  hpke: { publicKey: string; serverKeyId: string };
  hpkeKeys: Array<{ serverKeyId: string; publicKey: string; current: boolean }>;
}

const keyIdOf = (publicKeyB64: string) => crypto.createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex');

for (const build of INIT_BUILDS) describe(`occlum init (${build.toolchain} build): server HPKE keys rotate without breaking deployed images`, { skip: build.skip }, () => {
  const tmp = mkdtempSync(join(os.tmpdir(), `warden-occlum-keyring-${build.toolchain}-`));
  const data = join(tmp, 'data');
  let serve: DevServe | undefined;
  let quotes: QuoteService | undefined;
  let quoteSocket = '';
  let imageKey = '';
  const dbPassword = `db-${crypto.randomBytes(12).toString('hex')}`;
  // The two images: each an init.json pinning the key the server announced when it was built.
  let keyA = '';
  let keyB = '';
  let imageA = '';
  let imageB = '';

  const warden = (args: string[]) => execFileSync(process.execPath, [WARDEN_BIN, ...args, '--data', data, '--dev'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });
  before(async () => {
    const policies = join(tmp, 'policies');
    mkdirSync(policies, { recursive: true });
    writeFileSync(
      join(policies, 'keyring.yaml'),
      ['name: keyring', 'version: 1', 'match:', `  - mrenclave: ${MRENCLAVE}`, `    isvprodid: ${PRODID}`, `    min_isvsvn: ${SVN}`, 'debug: deny', 'secrets:', '  - app-image-key', '  - app-db-password', ''].join('\n'),
    );
    warden(['secret', 'create', 'app-image-key', '--kind', 'sefs-key']);
    writeFileSync(join(tmp, 'db-password'), dbPassword);
    warden(['secret', 'create', 'app-db-password', '--kind', 'bytes', '--from', join(tmp, 'db-password')]);
    warden(['secret', 'export-image-key', 'app-image-key', '--out', join(tmp, 'image_key')]);
    imageKey = readFileSync(join(tmp, 'image_key'), 'utf8').trim().replace(/-/g, '');
    serve = await startDevServe({ data, policies, certs: join(tmp, 'certs') });
    quotes = await startQuoteService(join(data, 'sim-pki'), tmp);
    quoteSocket = await quotes.socketFor({ mrEnclave: Buffer.from(MRENCLAVE, 'hex'), mrSigner: Buffer.from(MRSIGNER, 'hex'), isvProdId: PRODID, isvSvn: SVN });
  }, { timeout: 120_000 });

  after(async () => {
    await quotes?.close();
    await serve?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** What build.sh writes into the initfs for an image pinning `hpke` (base64). */
  function image(hpke: string): string {
    const file = join(tmp, `init-${crypto.randomUUID()}.json`);
    const out = join(tmp, `rootfs-${crypto.randomUUID()}`);
    writeFileSync(
      file,
      JSON.stringify({ url: serve!.url, caFile: serve!.caFile, serverHpkePublicKey: hpke, rootfsKeySecret: 'app-image-key', secrets: [{ name: 'app-db-password', path: join(out, 'db-password'), mode: '0400' }], timeoutSeconds: 20 }),
    );
    return file;
  }

  async function boot(config: string) {
    const r = await runInitUnderHarness({ build, config, mountLog: join(tmp, `mount-${crypto.randomUUID()}.log`), quoteSocket, env: { WARDEN_HARNESS_MOUNT_KEY: imageKey } });
    const secretFile = (JSON.parse(readFileSync(config, 'utf8')) as { secrets: Array<{ path: string }> }).secrets[0]!.path;
    return { ...r, attempts: r.mounts.map((m) => ({ key: m.key, errno: m.errno })), secretFile };
  }

  async function assertBoots(config: string, what: string) {
    const r = await boot(config);
    assert.equal(r.status, 0, `${what}: exit ${r.status}: ${r.stderr}`);
    assert.deepEqual(r.attempts, [{ key: imageKey, errno: 0 }], `${what}: mounted once, with the stored image key`);
    assert.equal(readFileSync(r.secretFile, 'utf8'), dbPassword, `${what}: the further secret is written`);
    assert.match(r.stdout, /^warden-init: root file system mounted with 'app-image-key' version 1, 1 further secret\(s\) written\n$/);
  }

  const keys = async () => (await serve!.getJson('/v1/server-keys')) as KeysView;
  /** The key that sealed the last release, as the audit trail records it (what an operator checks before retiring). */
  const lastSealedWith = () => {
    const { entries } = JSON.parse(warden(['audit', 'list', '--type', 'attestation', '--json'])) as { entries: Array<{ outcome: string; data: { serverKeyId?: string } }> };
    const last = entries.at(-1)!;
    assert.equal(last.outcome, 'allowed');
    return last.data.serverKeyId;
  };

  it('an image built pinning the current key A boots', async () => {
    const ring = await keys();
    keyA = ring.hpke.publicKey;
    assert.equal(ring.hpke.serverKeyId, keyIdOf(keyA));
    assert.deepEqual(ring.hpkeKeys.map((k) => k.serverKeyId), [keyIdOf(keyA)]);
    imageA = image(keyA);
    await assertBoots(imageA, 'image A before the rotation');
  });

  it('after `warden admin keys rotate --hpke` the image pinning A still boots, and an image pinning the new key B boots', async () => {
    const rotated = JSON.parse(warden(['admin', 'keys', 'rotate', '--hpke', '--json'])) as { publicKey: string; serverKeyId: string; previous: string };
    keyB = rotated.publicKey;
    assert.equal(rotated.previous, keyIdOf(keyA));
    assert.equal(rotated.serverKeyId, keyIdOf(keyB));
    assert.notEqual(keyB, keyA);
    // The running server serves both: B current, A still active.
    const ring = await keys();
    assert.equal(ring.hpke.publicKey, keyB);
    assert.deepEqual(ring.hpkeKeys.map((k) => [k.serverKeyId, k.current]), [[keyIdOf(keyB), true], [keyIdOf(keyA), false]]);
    // Without the init naming its key, the server would seal with B and image A would fail to open it.
    await assertBoots(imageA, 'image A after the rotation');
    assert.equal(lastSealedWith(), keyIdOf(keyA), 'image A named its key, and the audit trail says so');
    imageB = image(keyB);
    await assertBoots(imageB, 'image B');
    assert.equal(lastSealedWith(), keyIdOf(keyB));
  });

  it('after `warden admin keys retire A` the image pinning A stops with one line naming server_key_retired and the rebuild; B boots on', async () => {
    warden(['admin', 'keys', 'retire', keyIdOf(keyA)]);
    assert.deepEqual((await keys()).hpkeKeys.map((k) => k.serverKeyId), [keyIdOf(keyB)]);
    const r = await boot(imageA);
    assert.equal(r.status, EXIT_SERVER_KEY, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, /^warden-init: [^\n]+\n$/, 'exactly one line on stderr');
    assert.match(r.stderr, new RegExp(`^warden-init: pinned server key retired: server_key_retired \\(HTTP 410\\): this image pins HPKE key ${keyIdOf(keyA)}, which the server retired; rebuild the image with the server's current key \\(GET /v1/server-keys\\) and redeploy it\\n$`));
    assert.equal(r.stdout, '');
    assert.deepEqual(r.attempts, [], 'syscall 363 is never called');
    for (const s of [imageKey, dbPassword, Buffer.from(imageKey, 'hex').toString('base64')]) assert.ok(!r.stderr.includes(s), 'no secret in the output');
    await assertBoots(imageB, 'image B after the retirement');
  });

  it('an image pinning a key this server never had stops with server_key_unknown, exit 12, nothing mounted', async () => {
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).subarray(-65).toString('base64');
    const r = await boot(image(other));
    assert.equal(r.status, EXIT_SERVER_KEY, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^warden-init: pinned server key unknown: server_key_unknown \\(HTTP 400\\): this image pins HPKE key ${keyIdOf(other)}, which this server never had; check the image's url, or rebuild the image with the server's current key \\(GET /v1/server-keys\\)\\n$`));
    assert.deepEqual(r.attempts, []);
  });
});
