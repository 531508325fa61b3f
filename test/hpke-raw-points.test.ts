// The release path seals to the enclave's raw 65-byte point without importing it as a KeyObject:
// the checks that import used to give (on the curve, uncompressed, right length) must all still hold,
// and a long-lived sender key reused across many seals must keep giving openable, distinct results.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { HpkeError } from '../src/crypto/hpke.ts';
import { KeyError, assertP256Point, generateP256KeyPair } from '../src/crypto/p256.ts';
import { openSecret, sealSecret } from '../src/secrets/sealing.ts';

const isInvalid = (e: unknown) => e instanceof KeyError && e.code === 'invalid_key';

function badPoints(good: Buffer): Array<[string, Buffer]> {
  const offCurve = Buffer.from(good);
  offCurve[64] = offCurve[64]! ^ 1;
  const compressed = Buffer.concat([Buffer.of(2 + (good[64]! & 1)), good.subarray(1, 33)]);
  const wrongPrefix = Buffer.from(good);
  wrongPrefix[0] = 0x02;
  return [
    ['off the curve', offCurve],
    ['compressed (33 bytes)', compressed],
    ['64 bytes', good.subarray(0, 64)],
    ['65 bytes with a compressed prefix', wrongPrefix],
    ['(0, 0)', Buffer.concat([Buffer.of(4), Buffer.alloc(64)])],
    ['empty', Buffer.alloc(0)],
  ];
}

test('assertP256Point accepts a real point and refuses anything else', () => {
  const good = generateP256KeyPair().publicKey;
  assert.doesNotThrow(() => assertP256Point(good));
  for (const [what, p] of badPoints(good)) assert.throws(() => assertP256Point(p), isInvalid, what);
});

test('sealing to a bad recipient point fails with invalid_key, never seals', () => {
  const sender = generateP256KeyPair().privateKey;
  const good = generateP256KeyPair().publicKey;
  for (const [what, p] of badPoints(good)) {
    assert.throws(() => sealSecret({ recipientPublicKey: p, senderPrivateKey: sender, name: 'k', nonce: Buffer.alloc(32), value: Buffer.from('s') }), isInvalid, what);
  }
});

test('a sender key that is not P-256 is refused', () => {
  const recipient = generateP256KeyPair().publicKey;
  for (const k of [crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, crypto.generateKeyPairSync('ed25519').privateKey]) {
    assert.throws(() => sealSecret({ recipientPublicKey: recipient, senderPrivateKey: k, name: 'k', nonce: Buffer.alloc(32), value: Buffer.from('s') }), isInvalid);
  }
});

test('one sender key, many seals: each has a fresh ephemeral key and opens only for its recipient', () => {
  const sender = generateP256KeyPair();
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const r = generateP256KeyPair();
    const aad = crypto.randomBytes(32);
    const plaintext = crypto.randomBytes(16);
    const { enc, ciphertext } = sealSecret({ recipientPublicKey: r.publicKey, senderPrivateKey: sender.privateKey, name: 'k', nonce: aad, value: plaintext });
    assert.equal(enc.length, 65);
    assert.ok(!seen.has(enc.toString('hex')), 'ephemeral key reused');
    seen.add(enc.toString('hex'));
    assert.deepEqual(openSecret({ recipientPrivateKey: r.privateKey, senderPublicKey: sender.publicKey, enc, name: 'k', nonce: aad, ciphertext }), plaintext);
    // Authenticated: the same ciphertext does not open as coming from another sender.
    assert.throws(
      () => openSecret({ recipientPrivateKey: r.privateKey, senderPublicKey: generateP256KeyPair().publicKey, enc, name: 'k', nonce: aad, ciphertext }),
      (e: unknown) => e instanceof HpkeError && e.code === 'hpke_open_failed',
    );
  }
});

test('assertP256Point agrees with OpenSSL on random points and on each point with a bit flipped', () => {
  for (let i = 0; i < 50; i++) {
    const good = generateP256KeyPair().publicKey;
    assert.doesNotThrow(() => assertP256Point(good));
    const bad = Buffer.from(good);
    const bit = 8 + ((i * 37) % 512); // any bit of X or Y
    bad[bit >> 3] = bad[bit >> 3]! ^ (1 << (bit & 7));
    let openssl = true;
    try {
      crypto.ECDH.convertKey(bad, 'prime256v1', undefined, undefined, 'compressed');
    } catch {
      openssl = false;
    }
    assert.equal(openssl, false, 'a flipped bit leaves the curve');
    assert.throws(() => assertP256Point(bad), isInvalid);
  }
  // A coordinate of p or more is refused even where it is congruent to a valid one.
  const p = Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex');
  assert.throws(() => assertP256Point(Buffer.concat([Buffer.of(4), p, p])), isInvalid);
});
