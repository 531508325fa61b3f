// The HPKE keyring of the server-key store: ids, overlap after rotation, retirement seen by every
// connection, and retired private keys destroyed at rest.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { privateKeyBytes } from '../src/crypto/p256.ts';
import { serverKeyId } from '../src/protocol/sealing.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { StoreError } from '../src/store/errors.ts';
import { ServerKeys } from '../src/store/server-keys.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ring-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const code = (c: string) => (e: unknown) => e instanceof StoreError && e.code === c;

test('rotation keeps the previous key usable by id; retirement through another connection ends it', async () => {
  const file = path.join(dir, 'ring.db');
  const mk = crypto.randomBytes(32);
  const dbA = await sqliteEngine(file);
  const dbB = await sqliteEngine(file);
  const server = new ServerKeys(dbA, mk);
  const admin = new ServerKeys(dbB, mk);

  const k1 = await server.hpke();
  assert.equal(k1.id, serverKeyId(k1.publicKey));
  assert.equal(k1.id, crypto.createHash('sha256').update(k1.publicKey).digest('hex'));
  const sk1 = privateKeyBytes(k1.privateKey);

  const k2 = await admin.rotateHpke();
  assert.notEqual(k2.id, k1.id);
  assert.equal((await server.hpke()).id, k2.id, 'the current key moved');
  assert.deepEqual(privateKeyBytes((await server.hpke(k1.id)).privateKey), sk1, 'the previous key still seals');
  assert.deepEqual((await server.hpkeKeys()).map((k) => [k.id, k.current]), [[k2.id, true], [k1.id, false]]);

  await assert.rejects(admin.retireHpke(k2.id), code('server_key_current'));
  await assert.rejects(admin.retireHpke('0'.repeat(64)), code('server_key_unknown'));
  await admin.retireHpke(k1.id);
  await assert.rejects(server.hpke(k1.id), code('server_key_retired'));
  await assert.rejects(admin.retireHpke(k1.id), code('server_key_retired'));
  await assert.rejects(server.hpke('f'.repeat(64)), code('server_key_unknown'));
  assert.deepEqual((await server.hpkeKeys()).map((k) => k.id), [k2.id]);
  await dbA.close();
  await dbB.close();

  // The retired private key is gone from the file, not just from the ring.
  const bytes = Buffer.concat([file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
  assert.equal(bytes.indexOf(sk1), -1);
  const reopened = new ServerKeys(await sqliteEngine(file), mk);
  await assert.rejects(reopened.hpke(k1.id), code('server_key_retired'));
  assert.equal((await reopened.hpke()).id, k2.id);
});
