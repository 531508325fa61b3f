import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { StoreError } from '../src/store/errors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-secrets-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (e: unknown) => e instanceof StoreError && e.code === c;

function fileBytes(dbFile: string): Buffer {
  // The database and its WAL: everything SQLite wrote.
  return Buffer.concat([dbFile, `${dbFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

test('values are encrypted at rest: not in the row, not in the database files', () => {
  const file = path.join(dir, 'rest.db');
  const mk = crypto.randomBytes(32);
  const db = openDatabase(file);
  const store = new SecretStore(db, mk);
  const value = crypto.randomBytes(48);
  store.create('app-token', 'bytes', value);
  store.create('sefs', 'sefs-key');
  const sefs = store.get('sefs')!.value;
  assert.equal(sefs.length, 16);

  const row = db.prepare(`SELECT * FROM secrets WHERE name = 'app-token'`).get() as Record<string, unknown>;
  const rowBytes = Buffer.concat(Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))));
  assert.equal(rowBytes.indexOf(value), -1);
  assert.equal(rowBytes.indexOf(value.toString('hex')), -1);

  const bytes = fileBytes(file);
  assert.ok(bytes.length > 0);
  for (const needle of [value, value.toString('hex'), value.toString('base64'), sefs, mk, mk.toString('hex')]) {
    assert.equal(bytes.indexOf(needle), -1, 'secret material found in the database files');
  }
  db.close(); // checkpoints the WAL into the main file
  const all = fileBytes(file);
  for (const needle of [value, sefs, mk, mk.toString('hex')]) assert.equal(all.indexOf(needle), -1);
});

test('a tampered ciphertext fails with a typed error, and so does a swapped row', () => {
  const db = openDatabase(path.join(dir, 'tamper.db'));
  const store = new SecretStore(db, crypto.randomBytes(32));
  store.create('a', 'bytes', Buffer.from('value-a'));
  store.create('b', 'bytes', Buffer.from('value-b'));
  const sealed = (db.prepare(`SELECT sealed FROM secrets WHERE name = 'a'`).get() as { sealed: Buffer }).sealed;
  const bad = Buffer.from(sealed);
  bad[14] = bad[14]! ^ 0x01;
  db.prepare(`UPDATE secrets SET sealed = ? WHERE name = 'a'`).run(bad);
  assert.throws(() => store.get('a'), code('secret_decrypt_failed'));
  assert.throws(() => store.releasable('a'), code('secret_decrypt_failed'));
  // Moving b's ciphertext under a's name does not decrypt either: the AAD binds name and version.
  const sealedB = (db.prepare(`SELECT sealed FROM secrets WHERE name = 'b'`).get() as { sealed: Buffer }).sealed;
  db.prepare(`UPDATE secrets SET sealed = ? WHERE name = 'a'`).run(sealedB);
  assert.throws(() => store.get('a'), code('secret_decrypt_failed'));
  assert.deepEqual(store.get('b')!.value, Buffer.from('value-b'));
  db.close();
});

test('a different master key is refused with master_key_mismatch', () => {
  const file = path.join(dir, 'mk.db');
  const db = openDatabase(file);
  new SecretStore(db, crypto.randomBytes(32)).create('x', 'sefs-key');
  assert.throws(() => new SecretStore(db, crypto.randomBytes(32)), code('master_key_mismatch'));
  db.close();
});

test('names, kinds and values are validated with stable codes', () => {
  const db = openDatabase(':memory:');
  const store = new SecretStore(db, crypto.randomBytes(32));
  for (const bad of ['', 'Upper', '-lead', 'a/b', 'x'.repeat(65), 'sp ace', 'é']) {
    assert.throws(() => store.create(bad, 'bytes'), code('invalid_secret_name'), bad);
  }
  store.create('a'.repeat(64), 'bytes');
  store.create('db.key_1-x', 'bytes');
  assert.throws(() => store.create('k', 'sefs-key', Buffer.alloc(15)), code('invalid_secret_value'));
  assert.throws(() => store.create('k', 'bytes', Buffer.alloc(0)), code('invalid_secret_value'));
  store.create('k', 'sefs-key');
  assert.throws(() => store.create('k', 'bytes'), code('secret_exists'));
  assert.throws(() => store.rotate('missing'), code('secret_not_found'));
  assert.equal(store.get('missing'), null);
  assert.deepEqual(store.releasable('missing'), []);
  assert.deepEqual(store.releasable('Not A Name'), []);
  db.close();
});

test('rotation: versions count up, the previous version stays releasable during grace only', () => {
  let now = new Date('2026-03-01T00:00:00Z');
  const db = openDatabase(':memory:');
  const store = new SecretStore(db, crypto.randomBytes(32), { rotationGraceMs: 3600_000, now: () => now });
  const v1 = store.create('fs', 'sefs-key');
  assert.equal(v1.version, 1);
  const val1 = store.get('fs')!.value;
  assert.deepEqual(store.releasable('fs').map((r) => r.meta.version), [1]);

  now = new Date('2026-03-02T00:00:00Z');
  const v2 = store.rotate('fs');
  assert.equal(v2.version, 2);
  assert.equal(v2.kind, 'sefs-key');
  const rel = store.releasable('fs');
  assert.deepEqual(rel.map((r) => r.meta.version), [2, 1]);
  assert.deepEqual(rel[1]!.value, val1);
  assert.notDeepEqual(rel[0]!.value, val1);
  assert.equal(rel[1]!.meta.rotatedAt, '2026-03-02T00:00:00.000Z');
  assert.deepEqual(store.get('fs', 1)!.value, val1);
  assert.equal(store.get('fs')!.meta.version, 2);

  now = new Date('2026-03-02T01:00:00Z'); // grace over
  assert.deepEqual(store.releasable('fs').map((r) => r.meta.version), [2]);

  now = new Date('2026-03-03T00:00:00Z');
  store.rotate('fs', crypto.randomBytes(16));
  assert.deepEqual(store.releasable('fs').map((r) => r.meta.version), [3, 2]);
  store.rotate('fs');
  assert.deepEqual(store.releasable('fs').map((r) => r.meta.version), [4, 3], 'only the version just replaced');
  assert.equal(store.endRotation('fs'), true);
  assert.deepEqual(store.releasable('fs').map((r) => r.meta.version), [4]);

  assert.deepEqual(store.list().map((m) => [m.name, m.version]), [['fs', 4]]);
  assert.equal(store.versions('fs').length, 4);
  assert.equal(store.delete('fs'), true);
  assert.equal(store.delete('fs'), false);
  assert.equal(store.get('fs'), null);
  assert.deepEqual(store.list(), []);
  db.close();
});

test('list never carries values', () => {
  const db = openDatabase(':memory:');
  const store = new SecretStore(db, crypto.randomBytes(32));
  const value = Buffer.from('super-secret-value-123');
  store.create('one', 'bytes', value);
  const text = JSON.stringify(store.list()) + JSON.stringify(store.versions('one'));
  assert.ok(!text.includes('super-secret'));
  assert.ok(!text.includes(value.toString('base64')));
  db.close();
});

test('secrets survive closing and reopening the database', () => {
  const file = path.join(dir, 'reopen.db');
  const mk = crypto.randomBytes(32);
  let db = openDatabase(file);
  new SecretStore(db, mk).create('persist', 'bytes', Buffer.from('kept'));
  db.close();
  db = openDatabase(file);
  assert.deepEqual(new SecretStore(db, mk).get('persist')!.value, Buffer.from('kept'));
  db.close();
});
