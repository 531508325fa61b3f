// Writes test/vectors/protocol-v1.json, the golden vectors of wire format v1. Run only for a deliberate
// change of the wire format (which is a new protocol version, and a new file): the vectors are the
// reference both the TypeScript tests and the enclave's C tests check their code against.
//   node --import tsx test/vectors/generate.ts > test/vectors/protocol-v1.json
import { deriveKeyPair } from '../../src/crypto/hpke.ts';
import { privateKeyBytes } from '../../src/crypto/p256.ts';
import { HPKE_SUITE, SECRET_INFO_PREFIX, secretAad, secretInfo, serverKeyId } from '../../src/protocol/sealing.ts';
import { BINDING_LABEL, expectedReportData } from '../../src/protocol/wire.ts';
import { sealSecret } from '../../src/secrets/sealing.ts';

// Keys from RFC 9180 DeriveKeyPair over fixed, readable seeds: reproducible, and never a real key.
const key = (seed: string) => deriveKeyPair(Buffer.from(`warden golden vector v1: ${seed}`, 'ascii'));
const enclave = key('enclave key');
const server = key('server HPKE key');
const nonce = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

const secrets = [
  { name: 'app-image-key', value: Buffer.from('00112233445566778899aabbccddeeff', 'hex') },
  { name: 'db.password_v2', value: Buffer.from('correct horse battery staple', 'utf8') },
].map((s, i) => {
  const eph = key(`ephemeral key ${i + 1}`);
  const sealed = sealSecret({ recipientPublicKey: enclave.publicKey, senderPrivateKey: server.privateKey, name: s.name, nonce, value: s.value, ephemeralPrivateKey: eph.privateKey });
  return {
    name: s.name,
    value: s.value.toString('hex'),
    info: secretInfo(s.name).toString('hex'),
    aad: secretAad(nonce).toString('hex'),
    ephemeralPrivateKey: privateKeyBytes(eph.privateKey).toString('hex'),
    enc: sealed.enc.toString('hex'),
    ciphertext: sealed.ciphertext.toString('hex'),
  };
});

// The POST /v1/attest body an enclave sends for this nonce, key pair, pinned server key and secrets. The quote
// stands for any quote (its bytes are opaque to the wire format); serverKeyId names the pinned key.
const attestRequest = {
  nonce: nonce.toString('base64'),
  quote: Buffer.from('a DCAP quote, opaque here', 'ascii').toString('base64'),
  publicKey: enclave.publicKey.toString('base64'),
  serverKeyId: serverKeyId(server.publicKey),
  secrets: secrets.map((s) => s.name),
};

const vectors = {
  protocol: 'warden/v1',
  description: 'Golden vectors of the Warden wire format v1; see test/vectors/README.md. Byte strings are lower-case hex.',
  bindingLabel: BINDING_LABEL.toString('ascii'),
  secretInfoPrefix: SECRET_INFO_PREFIX,
  aad: 'the 32 nonce bytes',
  suite: { kem: HPKE_SUITE.kem, kdf: HPKE_SUITE.kdf, aead: HPKE_SUITE.aead, mode: HPKE_SUITE.mode, name: HPKE_SUITE.name },
  nonce: nonce.toString('hex'),
  enclaveKey: { privateKey: privateKeyBytes(enclave.privateKey).toString('hex'), publicKey: enclave.publicKey.toString('hex') },
  serverKey: { privateKey: privateKeyBytes(server.privateKey).toString('hex'), publicKey: server.publicKey.toString('hex'), serverKeyId: serverKeyId(server.publicKey) },
  reportData: expectedReportData(nonce, enclave.publicKey).toString('hex'),
  secrets,
  attestRequest,
};
process.stdout.write(JSON.stringify(vectors, null, 2) + '\n');
