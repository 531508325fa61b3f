// The init's handling of secrets released in several versions (a rotation: policy versions current+previous),
// against a scripted Warden over real HTTPS whose /v1/attest answers are crafted per test and sealed with the
// server's own HPKE code. The real init binary runs under the LD_PRELOAD harness; WARDEN_HARNESS_MOUNT_KEY
// says which key the image was built with (any other key gets Occlum's EIO). What is checked, for the glibc
// and the musl init: the newest version is tried first whatever the answer's order, only a wrong key moves
// on to an older one, and every malformed multi-version answer is refused before any mount.
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateP256KeyPair } from '../src/crypto/p256.ts';
import { sealSecret } from '../src/secrets/sealing.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { BUILD_TIMEOUT_MS, ERRNO, INIT_BUILDS, buildOcclumImage, runInitUnderHarness } from './occlum-helpers.ts';

const { EIO } = ERRNO;
const ROOT = 'fs-key';
const EXTRA = 'app-token';

/** One entry of the attest answer, before sealing; `tamper` flips a ciphertext bit after sealing. */
interface Entry {
  name: string;
  version?: unknown;
  value: Buffer;
  tamper?: boolean;
}

for (const build of INIT_BUILDS) describe(`occlum init (${build.toolchain} build): secrets released in several versions`, { skip: build.skip }, () => {
  const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-versions-'));
  const serverKey = generateP256KeyPair();
  const keyV1 = crypto.randomBytes(16);
  const keyV2 = crypto.randomBytes(16);
  const quoteFile = join(tmp, 'quote.bin');
  let server: https.Server | undefined;
  let url = '';
  let caFile = '';
  let entries: Entry[] = [];
  // How the scripted server treats the connection after answering the challenge, and what it saw.
  let afterChallenge: 'keep' | 'connection-close' | 'drop' = 'keep';
  let seen: Array<{ url: string; connection: number }> = [];
  const connections = new WeakMap<object, number>();
  let connectionCount = 0;

  before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });
  before(async () => {
    // The fake Warden ignores the quote; the init only needs /dev/sgx to give a well-formed v3 ECDSA quote.
    const quote = Buffer.alloc(48 + 384 + 4);
    quote.writeUInt16LE(3, 0);
    writeFileSync(quoteFile, quote);
    const certs = await createDevCerts(join(tmp, 'certs'), ['127.0.0.1']);
    caFile = certs.caCert;
    const nonces = new Set<string>();
    server = https.createServer({ key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) }, (req, res) => {
      if (!connections.has(req.socket)) connections.set(req.socket, ++connectionCount);
      seen.push({ url: req.url ?? '', connection: connections.get(req.socket) ?? 0 });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const send = (status: number, o: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(o));
        };
        if (req.url === '/v1/challenge') {
          const nonce = crypto.randomBytes(32).toString('base64');
          nonces.add(nonce);
          if (afterChallenge === 'connection-close') res.setHeader('connection', 'close');
          // An idle keep-alive timeout, as the server sees it: the connection goes away without a word.
          if (afterChallenge === 'drop') res.on('finish', () => req.socket.destroy());
          return send(200, { nonce, expiresAt: new Date(Date.now() + 120_000).toISOString() });
        }
        const a = JSON.parse(body) as { nonce: string; publicKey: string; secrets: string[] };
        if (req.url !== '/v1/attest' || !nonces.delete(a.nonce)) return send(401, { error: { code: 'nonce_unknown', message: 'no' } });
        const secrets = entries.map((e) => {
          const { enc, ciphertext } = sealSecret({
            recipientPublicKey: Buffer.from(a.publicKey, 'base64'),
            senderPrivateKey: serverKey.privateKey,
            name: e.name,
            nonce: Buffer.from(a.nonce, 'base64'),
            value: e.value,
          });
          if (e.tamper) ciphertext[0]! ^= 1;
          return { name: e.name, ...(e.version === undefined ? {} : { version: e.version }), enc: enc.toString('base64'), ciphertext: ciphertext.toString('base64') };
        });
        return send(200, { token: 'x.y.z', secrets, policy: 'scripted', tcbStatus: 'UpToDate' });
      });
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    rmSync(tmp, { recursive: true, force: true });
  });

  async function boot(answer: Entry[], imageKey: Buffer, extraPath?: string) {
    entries = answer;
    seen = [];
    const config = join(tmp, `init-${crypto.randomUUID()}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        url,
        caFile,
        serverHpkePublicKey: serverKey.publicKey.toString('base64'),
        rootfsKeySecret: ROOT,
        secrets: extraPath ? [{ name: EXTRA, path: extraPath, mode: '0400' }] : [],
        timeoutSeconds: 20,
      }),
    );
    const r = await runInitUnderHarness({
      build,
      config,
      mountLog: join(tmp, `mount-${crypto.randomUUID()}.log`),
      quoteCmd: `cat '${quoteFile}'; true`, // the appended report data goes to `true`
      env: { WARDEN_HARNESS_MOUNT_KEY: imageKey.toString('hex') },
    });
    return { ...r, attempts: r.mounts.map((m) => ({ key: m.key, errno: m.errno })) };
  }

  function assertProtocolError(r: Awaited<ReturnType<typeof boot>>, line: RegExp) {
    assert.equal(r.status, 10, r.stderr);
    assert.match(r.stderr, /^warden-init: bad server response: [^\n]*\n$/);
    assert.match(r.stderr, line);
    assert.deepEqual(r.attempts, [], 'syscall 363 must never be called');
  }

  it('tries the newest version first whatever the order of the answer, then the older one after a wrong key (EIO)', async () => {
    const extra = join(tmp, `out-${crypto.randomUUID()}`, 'token');
    const r = await boot(
      [
        { name: ROOT, version: 1, value: keyV1 },
        { name: EXTRA, version: 6, value: Buffer.from('token-v6') },
        { name: ROOT, version: 2, value: keyV2 },
        { name: EXTRA, version: 7, value: Buffer.from('token-v7') },
      ],
      keyV1,
      extra,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.attempts, [
      { key: keyV2.toString('hex'), errno: EIO },
      { key: keyV1.toString('hex'), errno: 0 },
    ]);
    assert.match(r.stdout, /mounted with 'fs-key' version 1, 1 further secret\(s\) written/);
    assert.equal(readFileSync(extra, 'utf8'), 'token-v7', 'the newest version of a further secret is written');
  });

  it('one version works as before', async () => {
    const r = await boot([{ name: ROOT, version: 5, value: keyV2 }], keyV2);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.attempts, [{ key: keyV2.toString('hex'), errno: 0 }]);
    assert.match(r.stdout, /mounted with 'fs-key' version 5,/);
  });

  it('refuses one version released twice', async () => {
    assertProtocolError(
      await boot([{ name: ROOT, version: 2, value: keyV2 }, { name: ROOT, version: 2, value: keyV1 }], keyV2),
      /secret 'fs-key' version 2 appears twice/,
    );
  });

  it('refuses more versions than current and previous', async () => {
    assertProtocolError(
      await boot(
        [
          { name: ROOT, version: 3, value: keyV2 },
          { name: ROOT, version: 2, value: keyV2 },
          { name: ROOT, version: 1, value: keyV1 },
        ],
        keyV2,
      ),
      /secret 'fs-key' comes in more than 2 versions/,
    );
  });

  for (const [what, version] of [
    ['missing', undefined],
    ['zero', 0],
    ['negative', -1],
    ['fractional', 1.5],
    ['a string', '2'],
    ['beyond 32 bits', 2 ** 32],
  ] as const) {
    it(`refuses a version that is ${what}`, async () => {
      assertProtocolError(await boot([{ name: ROOT, version, value: keyV2 }], keyV2), /secret 'fs-key' has no valid version/);
    });
  }

  it('checks every version before mounting: an older root key of the wrong size is refused with no mount', async () => {
    assertProtocolError(
      await boot([{ name: ROOT, version: 2, value: keyV2 }, { name: ROOT, version: 1, value: crypto.randomBytes(32) }], keyV2),
      /secret 'fs-key' version 1 is 32 bytes, not a 16-byte SEFS key/,
    );
  });

  it('an older version that does not open stops the boot before any mount', async () => {
    const r = await boot([{ name: ROOT, version: 2, value: keyV2 }, { name: ROOT, version: 1, value: keyV1, tamper: true }], keyV2);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, /^warden-init: HPKE open failed: secret 'fs-key'[^\n]*\n$/);
    assert.deepEqual(r.attempts, []);
  });

  it('a further secret released twice in one version is refused before any mount', async () => {
    const extra = join(tmp, `out-${crypto.randomUUID()}`, 'token');
    const r = await boot(
      [
        { name: ROOT, version: 1, value: keyV1 },
        { name: EXTRA, version: 4, value: Buffer.from('a') },
        { name: EXTRA, version: 4, value: Buffer.from('b') },
      ],
      keyV1,
      extra,
    );
    assertProtocolError(r, /secret 'app-token' version 4 appears twice/);
    assert.ok(!existsSync(extra));
  });

  describe('one keep-alive connection for challenge and attest', () => {
    after(() => (afterChallenge = 'keep'));

    it('challenge and attest go over one TLS connection', async () => {
      afterChallenge = 'keep';
      const r = await boot([{ name: ROOT, version: 1, value: keyV1 }], keyV1);
      assert.equal(r.status, 0, r.stderr);
      const [first, second] = seen;
      assert.deepEqual(seen.map((x) => x.url), ['/v1/challenge', '/v1/attest']);
      assert.equal(first?.connection, second?.connection, 'the same connection');
    });

    it('a server that answers the challenge with Connection: close gets the attest on a new connection', async () => {
      afterChallenge = 'connection-close';
      const r = await boot([{ name: ROOT, version: 1, value: keyV1 }], keyV1);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(seen.map((x) => x.url), ['/v1/challenge', '/v1/attest']);
      assert.notEqual(seen[0]?.connection, seen[1]?.connection);
    });

    it('a kept-alive connection the server dropped meanwhile: the attest is sent once more, on a new connection', async () => {
      afterChallenge = 'drop';
      const r = await boot([{ name: ROOT, version: 1, value: keyV1 }], keyV1);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(seen.map((x) => x.url), ['/v1/challenge', '/v1/attest'], 'the attest reached the server once');
      assert.notEqual(seen[0]?.connection, seen[1]?.connection);
      assert.deepEqual(r.attempts, [{ key: keyV1.toString('hex'), errno: 0 }]);
    });
  });
});
