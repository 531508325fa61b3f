// HPKE (src/crypto/hpke.ts) against RFC 9180 Appendix A.3 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM), and Warden's AES-256-GCM Auth-mode sealing (src/secrets/sealing.ts) by round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { AEAD_AES_128_GCM, AEAD_AES_256_GCM, MODE_AUTH, MODE_BASE, HpkeError, deriveKeyPair, setupRecipient, setupSender, type SetupSenderInput } from '../src/crypto/hpke.ts';
import { KeyError, generateP256KeyPair, importP256Point, privateKeyBytes, publicKeyBytes } from '../src/crypto/p256.ts';
import { secretInfo } from '../src/protocol/sealing.ts';
import { openSecret, sealSecret } from '../src/secrets/sealing.ts';

/** One message sealed with a chosen ephemeral key, and the key schedule behind it (RFC vectors only). */
function sealWithEphemeral(o: SetupSenderInput & { aad: Buffer; plaintext: Buffer }) {
  const { enc, context } = setupSender(o);
  return { enc, ciphertext: context.seal(o.aad, o.plaintext), schedule: context.schedule };
}

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const PT = h('4265617574792069732074727574682c20747275746820626561757479');
const INFO = h('4f6465206f6e2061204772656369616e2055726e');

// RFC 9180 A.3.1 (mode_base).
const BASE = {
  ikmE: h('4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e'),
  pkEm: h(`04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b32
           5ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4`),
  skEm: h('4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb'),
  ikmR: h('668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550'),
  pkRm: h(`04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f70
           6a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0`),
  skRm: h('f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2'),
  sharedSecret: h('c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8'),
  keyScheduleContext: h(`00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ce
           efc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed1
           1d493ae1c1d9ac85`),
  secret: h('2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1'),
  key: h('868c066ef58aae6dc589b6cfdd18f97e'),
  baseNonce: h('4e0bc5018beba4bf004cca59'),
  exporterSecret: h('14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f'),
  encryptions: [
    [0, '436f756e742d30', '5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434'],
    [1, '436f756e742d31', 'fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82'],
    [2, '436f756e742d32', '895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec'],
    [4, '436f756e742d34', '8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f'],
    [255, '436f756e742d323535', '2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd'],
    [256, '436f756e742d323536', '10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2'],
  ] as Array<[number, string, string]>,
  exports: [
    ['', '5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d'],
    ['00', '6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796'],
    ['54657374436f6e74657874', 'd8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a'],
  ] as Array<[string, string]>,
};

// RFC 9180 A.3.3 (mode_auth).
const AUTH = {
  ikmE: h('798d82a8d9ea19dbc7f2c6dfa54e8a6706f7cdc119db0813dacf8440ab37c857'),
  pkEm: h(`042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52
           e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454`),
  skEm: h('6b8de0873aed0c1b2d09b8c7ed54cbf24fdf1dfc7a47fa501f918810642d7b91'),
  ikmR: h('7bc93bde8890d1fb55220e7f3b0c107ae7e6eda35ca4040bb6651284bf0747ee'),
  pkRm: h(`04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b0
           1836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d`),
  skRm: h('d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e'),
  ikmS: h('874baa0dcf93595a24a45a7f042e0d22d368747daaa7e19f80a802af19204ba8'),
  pkSm: h(`04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c1
           0eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73`),
  skSm: h('1120ac99fb1fccc1e8230502d245719d1b217fe20505c7648795139d177f0de9'),
  sharedSecret: h('d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f'),
  keyScheduleContext: h(`02b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ce
           efc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed1
           1d493ae1c1d9ac85`),
  secret: h('fd0a93c7c6f6b1b0dd6a822d7b16f6c61c83d98ad88426df4613c3581a2319f1'),
  key: h('19aa8472b3fdc530392b0e54ca17c0f5'),
  baseNonce: h('b390052d26b67a5b8a8fcaa4'),
  exporterSecret: h('f152759972660eb0e1db880835abd5de1c39c8e9cd269f6f082ed80e28acb164'),
  encryptions: [
    [0, '436f756e742d30', '82ffc8c44760db691a07c5627e5fc2c08e7a86979ee79b494a17cc3405446ac2bdb8f265db4a099ed3289ffe19'],
    [1, '436f756e742d31', 'b0a705a54532c7b4f5907de51c13dffe1e08d55ee9ba59686114b05945494d96725b239468f1229e3966aa1250'],
    [2, '436f756e742d32', '8dc805680e3271a801790833ed74473710157645584f06d1b53ad439078d880b23e25256663178271c80ee8b7c'],
    [4, '436f756e742d34', '04c8f7aae1584b61aa5816382cb0b834a5d744f420e6dffb5ddcec633a21b8b3472820930c1ea9258b035937a2'],
    [255, '436f756e742d323535', '4a319462eaedee37248b4d985f64f4f863d31913fe9e30b6e13136053b69fe5d70853c84c60a84bb5495d5a678'],
    [256, '436f756e742d323536', '28e874512f8940fafc7d06135e7589f6b4198bc0f3a1c64702e72c9e6abaf9f05cb0d2f11b03a517898815c934'],
  ] as Array<[number, string, string]>,
  exports: [
    ['', '837e49c3ff629250c8d80d3c3fb957725ed481e59e2feb57afd9fe9a8c7c4497'],
    ['00', '594213f9018d614b82007a7021c3135bda7b380da4acd9ab27165c508640dbda'],
    ['54657374436f6e74657874', '14fe634f95ca0d86e15247cca7de7ba9b73c9b9deb6437e1c832daf7291b79d5'],
  ] as Array<[string, string]>,
};

test('DeriveKeyPair reproduces the RFC 9180 A.3 key pairs', () => {
  for (const [ikm, sk, pk] of [
    [BASE.ikmE, BASE.skEm, BASE.pkEm],
    [BASE.ikmR, BASE.skRm, BASE.pkRm],
    [AUTH.ikmE, AUTH.skEm, AUTH.pkEm],
    [AUTH.ikmR, AUTH.skRm, AUTH.pkRm],
    [AUTH.ikmS, AUTH.skSm, AUTH.pkSm],
  ] as const) {
    const kp = deriveKeyPair(ikm);
    assert.equal(privateKeyBytes(kp.privateKey).toString('hex'), sk.toString('hex'));
    assert.equal(kp.publicKey.toString('hex'), pk.toString('hex'));
  }
});

for (const [name, v, mode] of [
  ['A.3.1 mode_base', BASE, MODE_BASE],
  ['A.3.3 mode_auth', AUTH, MODE_AUTH],
] as const) {
  test(`RFC 9180 ${name}: key schedule, encryptions and exports`, () => {
    const skE = deriveKeyPair(v.ikmE).privateKey;
    const skR = deriveKeyPair(v.ikmR).privateKey;
    const skS = 'ikmS' in v ? deriveKeyPair(v.ikmS).privateKey : undefined;
    const { enc, context } = setupSender({
      mode,
      aeadId: AEAD_AES_128_GCM,
      recipientPublicKey: v.pkRm,
      info: INFO,
      ephemeralPrivateKey: skE,
      ...(skS ? { senderPrivateKey: skS } : {}),
    });
    assert.equal(enc.toString('hex'), v.pkEm.toString('hex'));
    const s = context.schedule;
    assert.equal(s.sharedSecret.toString('hex'), v.sharedSecret.toString('hex'));
    assert.equal(s.keyScheduleContext.toString('hex'), v.keyScheduleContext.toString('hex'));
    assert.equal(s.secret.toString('hex'), v.secret.toString('hex'));
    assert.equal(s.key.toString('hex'), v.key.toString('hex'));
    assert.equal(s.baseNonce.toString('hex'), v.baseNonce.toString('hex'));
    assert.equal(s.exporterSecret.toString('hex'), v.exporterSecret.toString('hex'));

    const recipient = setupRecipient({
      mode,
      aeadId: AEAD_AES_128_GCM,
      enc,
      recipientPrivateKey: skR,
      info: INFO,
      ...('pkSm' in v ? { senderPublicKey: v.pkSm } : {}),
    });
    // The vectors encrypt at sequence numbers 0, 1, 2, 4, 255, 256: the messages in between are sealed
    // and opened too, so both contexts reach each number the way a real exchange does.
    let at = 0;
    for (const [seq, aad, ct] of v.encryptions) {
      for (; at < seq; at++) recipient.open(Buffer.alloc(0), context.seal(Buffer.alloc(0), Buffer.alloc(0)));
      assert.equal(context.seal(h(aad), PT).toString('hex'), ct, `seal seq ${seq}`);
      assert.deepEqual(recipient.open(h(aad), h(ct)), PT, `open seq ${seq}`);
      at++;
    }
    for (const [ctx, value] of v.exports) {
      assert.equal(context.export(h(ctx), 32).toString('hex'), value);
      assert.equal(recipient.export(h(ctx), 32).toString('hex'), value);
    }
  });
}

test('a chosen ephemeral key gives the A.3.3 first ciphertext deterministically', () => {
  const out = sealWithEphemeral({
    mode: MODE_AUTH,
    aeadId: AEAD_AES_128_GCM,
    recipientPublicKey: AUTH.pkRm,
    info: INFO,
    ephemeralPrivateKey: deriveKeyPair(AUTH.ikmE).privateKey,
    senderPrivateKey: deriveKeyPair(AUTH.ikmS).privateKey,
    aad: h('436f756e742d30'),
    plaintext: PT,
  });
  assert.equal(out.enc.toString('hex'), AUTH.pkEm.toString('hex'));
  assert.equal(out.ciphertext.toString('hex'), AUTH.encryptions[0]![2]);
});

test('AES-256-GCM suite uses a 32-byte key and the same KEM; Auth mode round-trips', () => {
  // Same KEM inputs as A.3.3, so the shared secret is the RFC's; only the AEAD id (suite_id) and Nk differ.
  const sealed = sealWithEphemeral({
    mode: MODE_AUTH,
    aeadId: AEAD_AES_256_GCM,
    recipientPublicKey: AUTH.pkRm,
    info: INFO,
    ephemeralPrivateKey: deriveKeyPair(AUTH.ikmE).privateKey,
    senderPrivateKey: deriveKeyPair(AUTH.ikmS).privateKey,
    aad: Buffer.alloc(0),
    plaintext: PT,
  });
  assert.equal(sealed.schedule.sharedSecret.toString('hex'), AUTH.sharedSecret.toString('hex'));
  assert.equal(sealed.schedule.key.length, 32);
  assert.equal(sealed.schedule.baseNonce.length, 12);
  assert.equal(sealed.ciphertext.length, PT.length + 16);
  // The suite id is part of every label, so the key differs from the AES-128 suite's.
  assert.notEqual(sealed.schedule.key.subarray(0, 16).toString('hex'), AUTH.key.toString('hex'));

  const recipient = generateP256KeyPair();
  const sender = generateP256KeyPair();
  const nonce = crypto.randomBytes(32);
  const secret = crypto.randomBytes(16);
  const { enc, ciphertext } = sealSecret({ recipientPublicKey: recipient.publicKey, senderPrivateKey: sender.privateKey, name: 'db-key', nonce, value: secret });
  assert.equal(enc.length, 65);
  const opened = openSecret({ recipientPrivateKey: recipient.privateKey, senderPublicKey: sender.publicKey, enc, name: 'db-key', nonce, ciphertext });
  assert.deepEqual(opened, secret);

  const open = (over: Partial<Parameters<typeof openSecret>[0]>) =>
    openSecret({ recipientPrivateKey: recipient.privateKey, senderPublicKey: sender.publicKey, enc, name: 'db-key', nonce, ciphertext, ...over });
  const isOpenFailure = (e: unknown) => e instanceof HpkeError && e.code === 'hpke_open_failed';
  assert.throws(() => open({ name: 'other' }), isOpenFailure);
  assert.throws(() => open({ nonce: crypto.randomBytes(32) }), isOpenFailure);
  assert.throws(() => open({ senderPublicKey: generateP256KeyPair().publicKey }), isOpenFailure);
  assert.throws(() => open({ recipientPrivateKey: generateP256KeyPair().privateKey }), isOpenFailure);
  const flipped = Buffer.from(ciphertext);
  flipped[0] = flipped[0]! ^ 1;
  assert.throws(() => open({ ciphertext: flipped }), isOpenFailure);
});

test('secret info is the 17-byte prefix and the UTF-8 name', () => {
  const info = secretInfo('sefs.image-key');
  assert.equal(info.subarray(0, 17).toString('ascii'), 'warden/v1 secret ');
  assert.equal(info.subarray(17).toString('utf8'), 'sefs.image-key');
});

test('importP256Point rejects points off the curve and bad encodings', () => {
  const good = generateP256KeyPair().publicKey;
  assert.deepEqual(publicKeyBytes(importP256Point(good)), good);
  const offCurve = Buffer.from(good);
  offCurve[64] = offCurve[64]! ^ 1;
  const isInvalid = (e: unknown) => e instanceof KeyError && e.code === 'invalid_key';
  assert.throws(() => importP256Point(offCurve), isInvalid);
  assert.throws(() => importP256Point(good.subarray(0, 64)), isInvalid);
  const compressedPrefix = Buffer.from(good);
  compressedPrefix[0] = 0x02;
  assert.throws(() => importP256Point(compressedPrefix), isInvalid);
  assert.throws(() => importP256Point(Buffer.concat([Buffer.of(4), Buffer.alloc(64)])), isInvalid);
});
