// The init's HPKE (occlum-image/init/hpke.c) against RFC 9180's published vectors, and against the
// server's own sealing code (src/secrets/sealing.ts): what Warden seals, the init must open, and nothing else.
// Both builds: the glibc one on the system's OpenSSL, the musl one on OpenSSL built from Debian's source.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AEAD_AES_256_GCM, sealAuth } from '../src/crypto/hpke.ts';
import { generateP256KeyPair } from '../src/crypto/p256.ts';
import { secretInfo } from '../src/protocol/sealing.ts';
import { BUILD_TIMEOUT_MS, INIT_BUILDS, buildOcclumImage } from './occlum-helpers.ts';

function rawPrivate(k: crypto.KeyObject): Buffer {
  const jwk = k.export({ format: 'jwk' });
  return Buffer.from(jwk.d ?? '', 'base64url');
}

function cOpen(bin: string, o: { skR: Buffer; pkR: Buffer; pkS: Buffer; enc: Buffer; ct: Buffer; info: Buffer; aad: Buffer }) {
  return spawnSync(
    bin,
    [o.skR, o.pkR, o.pkS].map((b) => b.toString('hex')).concat([o.enc.toString('base64'), o.ct.toString('base64'), o.info.toString('hex'), o.aad.toString('hex')]),
    { encoding: 'utf8' },
  );
}

for (const build of INIT_BUILDS) describe(`occlum init HPKE (${build.toolchain} build)`, { skip: build.skip }, () => {
  const HPKE_VECTORS_BIN = build.hpkeVectors;
  const HPKE_OPEN_BIN = build.hpkeOpen;
  before(() => buildOcclumImage(build), { timeout: BUILD_TIMEOUT_MS });

  it('matches RFC 9180 A.3.1 (base) and A.3.3 (auth) vectors, and refuses tampering and a wrong sender', () => {
    const out = execFileSync(HPKE_VECTORS_BIN, { encoding: 'utf8' });
    assert.match(out, /^0 failure\(s\)$/m);
    for (const name of ['A.3.1 base: key', 'A.3.3 auth: shared_secret', 'A.3.3 auth: open seq 256', 'A.3.3 auth: wrong sender key refused']) {
      assert.ok(out.includes(`ok ${name}`), `missing check: ${name}`);
    }
  });

  it('opens what src/secrets/sealing.ts seals (Auth mode, AES-256-GCM, Warden info and aad)', () => {
    const recipient = generateP256KeyPair();
    const server = generateP256KeyPair();
    const nonce = crypto.randomBytes(32);
    const secret = crypto.randomBytes(16);
    const info = secretInfo('app-image-key');
    const { enc, ciphertext } = sealAuth({ aeadId: AEAD_AES_256_GCM, recipientPublicKey: recipient.publicKey, senderPrivateKey: server.privateKey, info, aad: nonce, plaintext: secret });
    const r = cOpen(HPKE_OPEN_BIN, { skR: rawPrivate(recipient.privateKey), pkR: recipient.publicKey, pkS: server.publicKey, enc, ct: ciphertext, info, aad: nonce });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), secret.toString('hex'));
  });

  it('refuses a ciphertext sealed by another server key, for another secret name, or for another nonce', () => {
    const recipient = generateP256KeyPair();
    const server = generateP256KeyPair();
    const impostor = generateP256KeyPair();
    const nonce = crypto.randomBytes(32);
    const info = secretInfo('app-image-key');
    const sealed = sealAuth({ aeadId: AEAD_AES_256_GCM, recipientPublicKey: recipient.publicKey, senderPrivateKey: impostor.privateKey, info, aad: nonce, plaintext: Buffer.alloc(16, 7) });
    const base = { skR: rawPrivate(recipient.privateKey), pkR: recipient.publicKey, enc: sealed.enc, ct: sealed.ciphertext, aad: nonce };
    const wrongSender = cOpen(HPKE_OPEN_BIN, { ...base, pkS: server.publicKey, info });
    assert.equal(wrongSender.status, 1);
    assert.match(wrongSender.stderr, /open failed/);
    assert.equal(cOpen(HPKE_OPEN_BIN, { ...base, pkS: impostor.publicKey, info: secretInfo('other-secret') }).status, 1);
    assert.equal(cOpen(HPKE_OPEN_BIN, { ...base, pkS: impostor.publicKey, info, aad: crypto.randomBytes(32) }).status, 1);
    assert.equal(cOpen(HPKE_OPEN_BIN, { ...base, pkS: impostor.publicKey, info }).status, 0, 'control: the right inputs open');
  });
});
