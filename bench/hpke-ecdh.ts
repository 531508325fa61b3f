// The ECDH work of sealing one secret with HPKE Auth mode (issue #16 item 3), measured option by option:
// check the enclave's point, make an ephemeral key pair, encode its public point, and two Diffie-Hellman
// computations with the enclave's point (ephemeral x enclave, server x enclave). Every option is first
// checked against node:crypto's answer on random keys and on RFC 9180's DHKEM(P-256) Auth vector.
// Rounds interleave the options; the table gives the median µs per seal and the median of the per-round ratios
// to the current path. Standalone (not a section of `npm run bench`): it decides a design, it does not track one.
//   node --import tsx bench/hpke-ecdh.ts [--rounds=N] [--per-round=N] [--json]
import crypto, { type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { assertP256Point, importP256Point, importP256PrivateKey, publicKeyBytes } from '../src/crypto/p256.ts';

interface Option {
  name: string;
  note: string;
  /** One seal's ECDH work: the two shared secrets (eph x peer || static x peer) and the ephemeral public point. */
  run(peer: Buffer): Promise<{ enc: Buffer; dh: Buffer }> | { enc: Buffer; dh: Buffer };
  /** The same with a fixed ephemeral key (correctness check). */
  fixed(peer: Buffer, ephScalar: Buffer): Promise<Buffer> | Buffer;
}

const args = new Map<string, string | undefined>(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v];
  }),
);
const ROUNDS = Number(args.get('rounds') ?? 9);
const PER_ROUND = Number(args.get('per-round') ?? 300);

const SPKI_P256_HEADER = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const subtle = crypto.webcrypto.subtle;

/** The options, for a server (sender) key given as its scalar. */
async function makeOptions(serverScalar: Buffer): Promise<Option[]> {
  const serverKey: KeyObject = importP256PrivateKey(serverScalar);
  const serverEcdh = crypto.createECDH('prime256v1');
  serverEcdh.setPrivateKey(serverScalar);

  const ecdhObjects: Option = {
    name: 'ECDH objects (current)',
    note: 'createECDH + generateKeys; computeSecret on the raw point (Node re-checks the local key each call)',
    run(peer) {
      assertP256Point(peer);
      const eph = crypto.createECDH('prime256v1');
      const enc = eph.generateKeys();
      return { enc, dh: Buffer.concat([eph.computeSecret(peer), serverEcdh.computeSecret(peer)]) };
    },
    fixed(peer, s) {
      const eph = crypto.createECDH('prime256v1');
      eph.setPrivateKey(s);
      return Buffer.concat([eph.computeSecret(peer), serverEcdh.computeSecret(peer)]);
    },
  };

  function keyObjectOption(name: string, note: string, importPeer: (raw: Buffer) => KeyObject): Option {
    return {
      name,
      note,
      run(peer) {
        const peerKey = importPeer(peer); // the import checks the point: no separate check
        const eph = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const enc = publicKeyBytes(eph.publicKey);
        return {
          enc,
          dh: Buffer.concat([crypto.diffieHellman({ privateKey: eph.privateKey, publicKey: peerKey }), crypto.diffieHellman({ privateKey: serverKey, publicKey: peerKey })]),
        };
      },
      fixed(peer, s) {
        const peerKey = importPeer(peer);
        return Buffer.concat([crypto.diffieHellman({ privateKey: importP256PrivateKey(s), publicKey: peerKey }), crypto.diffieHellman({ privateKey: serverKey, publicKey: peerKey })]);
      },
    };
  }

  const keyObjectsJwk = keyObjectOption('KeyObjects, diffieHellman (JWK import)', 'peer imported once as JWK; generateKeyPairSync; crypto.diffieHellman twice', importP256Point);
  const keyObjectsSpki = keyObjectOption('KeyObjects, diffieHellman (SPKI import)', 'the same with the peer imported as SPKI DER', (raw) =>
    crypto.createPublicKey({ key: Buffer.concat([SPKI_P256_HEADER, raw]), format: 'der', type: 'spki' }),
  );

  const ecdhEphKeyObjectStatic: Option = {
    name: 'ECDH ephemeral, KeyObject static',
    note: 'ephemeral by createECDH (cheap keygen), server x peer by diffieHellman with the peer imported as JWK',
    run(peer) {
      const peerKey = importP256Point(peer);
      const eph = crypto.createECDH('prime256v1');
      const enc = eph.generateKeys();
      return { enc, dh: Buffer.concat([eph.computeSecret(peer), crypto.diffieHellman({ privateKey: serverKey, publicKey: peerKey })]) };
    },
    fixed(peer, s) {
      const peerKey = importP256Point(peer);
      const eph = crypto.createECDH('prime256v1');
      eph.setPrivateKey(s);
      return Buffer.concat([eph.computeSecret(peer), crypto.diffieHellman({ privateKey: serverKey, publicKey: peerKey })]);
    },
  };

  const serverCryptoKey = await subtle.importKey('jwk', { ...serverKey.export({ format: 'jwk' }), ext: true }, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const webCrypto: Option = {
    name: 'WebCrypto (subtle, async)',
    note: 'importKey raw, generateKey, deriveBits twice, exportKey raw',
    async run(peer) {
      const peerKey = await subtle.importKey('raw', peer, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
      const eph = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
      const enc = Buffer.from(await subtle.exportKey('raw', eph.publicKey));
      const a = await subtle.deriveBits({ name: 'ECDH', public: peerKey }, eph.privateKey, 256);
      const b = await subtle.deriveBits({ name: 'ECDH', public: peerKey }, serverCryptoKey, 256);
      return { enc, dh: Buffer.concat([Buffer.from(a), Buffer.from(b)]) };
    },
    async fixed(peer, s) {
      const peerKey = await subtle.importKey('raw', peer, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
      const ephKey = await subtle.importKey('jwk', { ...importP256PrivateKey(s).export({ format: 'jwk' }), ext: true }, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
      const a = await subtle.deriveBits({ name: 'ECDH', public: peerKey }, ephKey, 256);
      const b = await subtle.deriveBits({ name: 'ECDH', public: peerKey }, serverCryptoKey, 256);
      return Buffer.concat([Buffer.from(a), Buffer.from(b)]);
    },
  };

  const noble: Option = {
    name: '@noble/curves p256 (pure JS)',
    note: 'getSharedSecret twice, randomSecretKey + getPublicKey',
    run(peer) {
      const pt = p256.Point.fromBytes(peer); // checks the point
      pt.assertValidity();
      const eph = p256.utils.randomSecretKey();
      const enc = Buffer.from(p256.getPublicKey(eph, false));
      const x = (sk: Uint8Array) => Buffer.from(p256.getSharedSecret(sk, peer, true)).subarray(1);
      return { enc, dh: Buffer.concat([x(eph), x(serverScalar)]) };
    },
    fixed(peer, s) {
      const x = (sk: Uint8Array) => Buffer.from(p256.getSharedSecret(sk, peer, true)).subarray(1);
      return Buffer.concat([x(s), x(serverScalar)]);
    },
  };

  return [ecdhObjects, keyObjectsJwk, keyObjectsSpki, ecdhEphKeyObjectStatic, webCrypto, noble];
}

const SERVER_SCALAR = crypto.randomBytes(32);
const CURRENT_SERVER_PUB = publicKeyBytes(importP256PrivateKey(SERVER_SCALAR));
const OPTIONS = await makeOptions(SERVER_SCALAR);
const CURRENT = OPTIONS[0]!;

// ---- correctness: every option agrees with node:crypto on random keys, and on RFC 9180 A.3.4 (Auth mode) ----
async function checkCorrect(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const peer = crypto.createECDH('prime256v1');
    const peerPub = peer.generateKeys();
    const ephScalar = crypto.randomBytes(32);
    const want = (await CURRENT.fixed(peerPub, ephScalar)) as Buffer;
    const reference = Buffer.concat([peer.computeSecret(publicKeyBytes(importP256PrivateKey(ephScalar))), peer.computeSecret(CURRENT_SERVER_PUB)]);
    if (!want.equals(reference)) throw new Error('the current option disagrees with plain node:crypto');
    for (const o of OPTIONS) {
      const got = await o.fixed(peerPub, ephScalar);
      if (!got.equals(want)) throw new Error(`${o.name}: wrong shared secret`);
      const r = await o.run(peerPub);
      if (r.dh.length !== 64 || r.enc.length !== 65 || r.enc[0] !== 4) throw new Error(`${o.name}: wrong output shape`);
    }
  }
  // Off-curve points are refused by every option.
  const off = Buffer.concat([Buffer.of(4), Buffer.alloc(32, 1), Buffer.alloc(32, 2)]);
  for (const o of OPTIONS) {
    let refused = false;
    try {
      await o.run(off);
    } catch {
      refused = true;
    }
    if (!refused) throw new Error(`${o.name}: accepted a point off the curve`);
  }
}

const hx = (t: string) => Buffer.from(t.replace(/\s+/g, ''), 'hex');
/** RFC 9180 A.3.3 DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, mode_auth: the KEM's shared secret from each option's DH values. */
async function checkRfcVector(): Promise<void> {
  const v = {
    pkEm: hx('042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454'),
    skEm: hx('6b8de0873aed0c1b2d09b8c7ed54cbf24fdf1dfc7a47fa501f918810642d7b91'),
    pkRm: hx('04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b01836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d'),
    pkSm: hx('04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c10eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73'),
    skSm: hx('1120ac99fb1fccc1e8230502d245719d1b217fe20505c7648795139d177f0de9'),
    sharedSecret: hx('d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f'),
  };
  const suite = Buffer.concat([Buffer.from('KEM'), Buffer.of(0x00, 0x10)]);
  const hmac = (k: Buffer, d: Buffer) => crypto.createHmac('sha256', k).update(d).digest();
  const prk = (dh: Buffer) => hmac(Buffer.alloc(32), Buffer.concat([Buffer.from('HPKE-v1'), suite, Buffer.from('eae_prk'), dh]));
  const expand = (k: Buffer, ctx: Buffer) => hmac(k, Buffer.concat([Buffer.of(0, 32), Buffer.from('HPKE-v1'), suite, Buffer.from('shared_secret'), ctx, Buffer.of(1)]));
  const kemContext = Buffer.concat([v.pkEm, v.pkRm, v.pkSm]);
  for (const o of await makeOptions(v.skSm)) {
    const dh = await o.fixed(v.pkRm, v.skEm);
    if (!expand(prk(dh), kemContext).equals(v.sharedSecret)) throw new Error(`${o.name}: RFC 9180 A.3.3 shared secret differs`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

await checkCorrect();
await checkRfcVector();
const peers = Array.from({ length: PER_ROUND }, () => crypto.createECDH('prime256v1').generateKeys());
const times = new Map<string, number[]>(OPTIONS.map((o) => [o.name, []]));
for (const o of OPTIONS) for (const p of peers.slice(0, 50)) await o.run(p); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round, so no option always runs first or last.
  const order = OPTIONS.map((_, i) => OPTIONS[(i + round) % OPTIONS.length]!);
  for (const o of order) {
    const t0 = process.hrtime.bigint();
    for (const p of peers) await o.run(p);
    times.get(o.name)!.push(Number(process.hrtime.bigint() - t0) / 1000 / peers.length);
  }
}
// Ratios are taken within each round (the machine is shared), then the median over rounds.
const base = times.get(CURRENT.name)!;
const rows = OPTIONS.map((o) => {
  const t = times.get(o.name)!;
  const ratios = t.map((x, i) => x / base[i]!);
  return { option: o.name, usPerSeal: +median(t).toFixed(1), min: +Math.min(...t).toFixed(1), max: +Math.max(...t).toFixed(1), vsCurrent: +median(ratios).toFixed(2), note: o.note };
});
if (args.has('json')) console.log(JSON.stringify({ rounds: ROUNDS, perRound: PER_ROUND, node: process.version, load: (await import('node:os')).loadavg(), rows }));
else {
  console.log(`ECDH work of one HPKE Auth seal (point check, ephemeral key, 2 DH): median of ${ROUNDS} interleaved rounds of ${PER_ROUND}, node ${process.version}`);
  for (const r of rows) console.log(`${r.option.padEnd(44)} ${String(r.usPerSeal).padStart(8)} µs  (${r.min}-${r.max})  x${r.vsCurrent}  ${r.note}`);
}
