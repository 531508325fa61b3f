import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.ts';
import { ServerKeys, jwkThumbprint } from '../src/store/server-keys.ts';
import { StoreError } from '../src/store/errors.ts';
import { generateP256KeyPair, privateKeyBytes, publicKeyBytes } from '../src/crypto/p256.ts';
import { openSecret, sealSecret } from '../src/secrets/sealing.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-keys-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('keys are generated once, survive reopening, and are encrypted at rest', () => {
  const file = path.join(dir, 'keys.db');
  const mk = crypto.randomBytes(32);
  let db = openDatabase(file);
  let keys = new ServerKeys(db, mk);
  const hpke1 = keys.hpke();
  const tok1 = keys.currentTokenKey();
  assert.equal(hpke1.publicKey.length, 65);
  assert.deepEqual(publicKeyBytes(hpke1.privateKey), hpke1.publicKey);
  assert.equal(tok1.kid, jwkThumbprint(tok1.publicKey));
  const hpkeSk = privateKeyBytes(hpke1.privateKey);
  const tokSk = privateKeyBytes(tok1.privateKey);
  db.close();

  const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
  assert.equal(bytes.indexOf(hpkeSk), -1, 'HPKE private key in the clear');
  assert.equal(bytes.indexOf(tokSk), -1, 'token private key in the clear');

  db = openDatabase(file);
  keys = new ServerKeys(db, mk);
  assert.deepEqual(keys.hpke().publicKey, hpke1.publicKey);
  assert.deepEqual(privateKeyBytes(keys.hpke().privateKey), hpkeSk);
  assert.equal(keys.currentTokenKey().kid, tok1.kid);
  assert.throws(() => new ServerKeys(db, crypto.randomBytes(32)), (e: unknown) => e instanceof StoreError && e.code === 'master_key_mismatch');
  db.close();
});

test('two connections starting together agree on one key', () => {
  const file = path.join(dir, 'race.db');
  const mk = crypto.randomBytes(32);
  const a = new ServerKeys(openDatabase(file), mk);
  const b = new ServerKeys(openDatabase(file), mk);
  assert.deepEqual(a.hpke().publicKey, b.hpke().publicKey);
  assert.equal(a.currentTokenKey().kid, b.currentTokenKey().kid);
});

test('the stored HPKE key seals secrets an enclave can open', () => {
  const keys = new ServerKeys(openDatabase(':memory:'), crypto.randomBytes(32));
  const enclave = generateP256KeyPair();
  const nonce = Buffer.alloc(32, 1);
  const { enc, ciphertext } = sealSecret({ recipientPublicKey: enclave.publicKey, senderPrivateKey: keys.hpke().privateKey, name: 'i', nonce, value: Buffer.from('p') });
  const pt = openSecret({ recipientPrivateKey: enclave.privateKey, senderPublicKey: keys.hpke().publicKey, enc, name: 'i', nonce, ciphertext });
  assert.equal(pt.toString(), 'p');
});

test('rotation: new HPKE key; token rotation keeps old public keys without their private keys', () => {
  const keys = new ServerKeys(openDatabase(':memory:'), crypto.randomBytes(32));
  const h1 = keys.hpke().publicKey;
  keys.rotateHpke();
  assert.notDeepEqual(keys.hpke().publicKey, h1);

  const t1 = keys.currentTokenKey().kid;
  keys.rotateTokenKey();
  const t2 = keys.currentTokenKey().kid;
  assert.notEqual(t1, t2);
  const all = keys.tokenKeys();
  assert.deepEqual(all.map((k) => [k.kid, k.current, Boolean(k.privateKey)]), [
    [t2, true, true],
    [t1, false, false],
  ]);
  assert.ok(all[1]!.retiredAt);
});
