import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../src/store/audit.ts';
import { SqliteEngine } from '../src/store/sqlite.ts';
import { migrate } from '../src/store/migrations.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { StoreError } from '../src/store/errors.ts';
import { bothEngines } from './helpers/engines.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-secrets-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (e: unknown) => e instanceof StoreError && e.code === c;

function fileBytes(dbFile: string): Buffer {
  // The database and its WAL: everything SQLite wrote.
  return Buffer.concat([dbFile, `${dbFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

test('values are encrypted at rest: not in the row, not in the database files', async () => {
  const file = path.join(dir, 'rest.db');
  const mk = crypto.randomBytes(32);
  const db = new SqliteEngine(file);
  await migrate(db);
  const store = new SecretStore(db, mk);
  const value = crypto.randomBytes(48);
  await store.create('app-token', 'bytes', value);
  await store.create('sefs', 'sefs-key');
  const sefs = (await store.get('sefs'))!.value;
  assert.equal(sefs.length, 16);

  const row = (await db.get<Record<string, unknown>>(`SELECT * FROM secrets WHERE name = 'app-token'`))!;
  const rowBytes = Buffer.concat(Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))));
  assert.equal(rowBytes.indexOf(value), -1);
  assert.equal(rowBytes.indexOf(value.toString('hex')), -1);

  const bytes = fileBytes(file);
  assert.ok(bytes.length > 0);
  for (const needle of [value, value.toString('hex'), value.toString('base64'), sefs, mk, mk.toString('hex')]) {
    assert.equal(bytes.indexOf(needle), -1, 'secret material found in the database files');
  }
  await db.close(); // checkpoints the WAL into the main file
  const all = fileBytes(file);
  for (const needle of [value, sefs, mk, mk.toString('hex')]) assert.equal(all.indexOf(needle), -1);
});

bothEngines('a tampered ciphertext fails with a typed error, and so does a swapped row', async (h) => {
  const db = await h.engine();
  const store = new SecretStore(db, crypto.randomBytes(32));
  await store.create('a', 'bytes', Buffer.from('value-a'));
  await store.create('b', 'bytes', Buffer.from('value-b'));
  const sealed = (await db.get<{ sealed: Buffer }>(`SELECT sealed FROM secrets WHERE name = 'a'`))!.sealed;
  const bad = Buffer.from(sealed);
  bad[14] = bad[14]! ^ 0x01;
  await db.run(`UPDATE secrets SET sealed = ? WHERE name = 'a'`, [bad]);
  await assert.rejects(store.get('a'), code('secret_decrypt_failed'));
  await assert.rejects(store.releasable('a'), code('secret_decrypt_failed'));
  // Moving b's ciphertext under a's name does not decrypt either: the AAD binds name and version.
  const sealedB = (await db.get<{ sealed: Buffer }>(`SELECT sealed FROM secrets WHERE name = 'b'`))!.sealed;
  await db.run(`UPDATE secrets SET sealed = ? WHERE name = 'a'`, [sealedB]);
  await assert.rejects(store.get('a'), code('secret_decrypt_failed'));
  assert.deepEqual((await store.get('b'))!.value, Buffer.from('value-b'));
});

bothEngines('a different master key is refused with master_key_mismatch', async (h) => {
  const db = await h.engine();
  await new SecretStore(db, crypto.randomBytes(32)).create('x', 'sefs-key');
  const other = new SecretStore(db, crypto.randomBytes(32));
  await assert.rejects(other.list(), code('master_key_mismatch'));
  await assert.rejects(other.releasable('x'), code('master_key_mismatch'));
});

bothEngines('names, kinds and values are validated with stable codes', async (h) => {
  const db = await h.engine();
  const store = new SecretStore(db, crypto.randomBytes(32));
  for (const bad of ['', 'Upper', '-lead', 'a/b', 'x'.repeat(65), 'sp ace', 'é']) {
    await assert.rejects(store.create(bad, 'bytes'), code('invalid_secret_name'), bad);
  }
  await store.create('a'.repeat(64), 'bytes');
  await store.create('db.key_1-x', 'bytes');
  await assert.rejects(store.create('k', 'sefs-key', Buffer.alloc(15)), code('invalid_secret_value'));
  await assert.rejects(store.create('k', 'bytes', Buffer.alloc(0)), code('invalid_secret_value'));
  await store.create('k', 'sefs-key');
  await assert.rejects(store.create('k', 'bytes'), code('secret_exists'));
  await assert.rejects(store.rotate('missing'), code('secret_not_found'));
  assert.equal((await store.get('missing')), null);
  assert.deepEqual((await store.releasable('missing')), []);
  assert.deepEqual((await store.releasable('Not A Name')), []);
});

bothEngines('rotation: versions count up, the previous version stays releasable during grace only', async (h) => {
  let now = new Date('2026-03-01T00:00:00Z');
  const db = await h.engine();
  const store = new SecretStore(db, crypto.randomBytes(32), { rotationGraceMs: 3600_000, now: () => now });
  const v1 = (await store.create('fs', 'sefs-key'));
  assert.equal(v1.version, 1);
  const val1 = (await store.get('fs'))!.value;
  assert.deepEqual((await store.releasable('fs')).map((r) => r.meta.version), [1]);

  now = new Date('2026-03-02T00:00:00Z');
  const v2 = (await store.rotate('fs'));
  assert.equal(v2.version, 2);
  assert.equal(v2.kind, 'sefs-key');
  const rel = (await store.releasable('fs'));
  assert.deepEqual(rel.map((r) => r.meta.version), [2, 1]);
  assert.deepEqual(rel[1]!.value, val1);
  assert.notDeepEqual(rel[0]!.value, val1);
  assert.equal(rel[1]!.meta.rotatedAt, '2026-03-02T00:00:00.000Z');
  assert.deepEqual((await store.get('fs', 1))!.value, val1);
  assert.equal((await store.get('fs'))!.meta.version, 2);

  now = new Date('2026-03-02T01:00:00Z'); // grace over
  assert.deepEqual((await store.releasable('fs')).map((r) => r.meta.version), [2]);

  now = new Date('2026-03-03T00:00:00Z');
  await store.rotate('fs', crypto.randomBytes(16));
  assert.deepEqual((await store.releasable('fs')).map((r) => r.meta.version), [3, 2]);
  await store.rotate('fs');
  assert.deepEqual((await store.releasable('fs')).map((r) => r.meta.version), [4, 3], 'only the version just replaced');
  assert.equal((await store.endRotation('fs')), true);
  assert.deepEqual((await store.releasable('fs')).map((r) => r.meta.version), [4]);

  assert.deepEqual((await store.list()).map((m) => [m.name, m.version]), [['fs', 4]]);
  assert.equal((await store.versions('fs')).length, 4);
  assert.equal((await store.delete('fs')), true);
  assert.equal((await store.delete('fs')), false);
  assert.equal((await store.get('fs')), null);
  assert.deepEqual((await store.list()), []);
});

bothEngines('list never carries values', async (h) => {
  const db = await h.engine();
  const store = new SecretStore(db, crypto.randomBytes(32));
  const value = Buffer.from('super-secret-value-123');
  await store.create('one', 'bytes', value);
  const text = JSON.stringify((await store.list())) + JSON.stringify((await store.versions('one')));
  assert.ok(!text.includes('super-secret'));
  assert.ok(!text.includes(value.toString('base64')));
});

bothEngines('secrets survive closing and reopening the database', async (h) => {
  const mk = crypto.randomBytes(32);
  const db = await h.engine();
  await new SecretStore(db, mk).create('persist', 'bytes', Buffer.from('kept'));
  await db.close();
  assert.deepEqual((await new SecretStore(await h.reopen(db), mk).get('persist'))!.value, Buffer.from('kept'));
});

bothEngines('a secret change and its audit entry commit together, or neither does', async (h) => {
  const db = await h.engine();
  const audit = new AuditLog(db);
  const store = new SecretStore(db, crypto.randomBytes(32), { audit });
  await store.create('app', 'bytes', undefined, { actor: 'tester', extra: { source: 'generated' } });
  await store.rotate('app', undefined, { actor: 'tester' });
  assert.deepEqual((await audit.list()).map((e) => [e.actor, e.data['action'], e.data['name'], e.data['version'] ?? null]), [
    ['tester', 'secret.create', 'app', 1],
    ['tester', 'secret.rotate', 'app', 2],
  ]);
  // Make the audit insert fail (a row in the way of the next id): the secret change is rolled back with it.
  await db.run(`INSERT INTO audit (id, ts, type, actor, outcome, data, prev_hash, hash) VALUES (3, 'x', 'x', NULL, NULL, '{}', 'x', 'x')`);
  await assert.rejects(store.rotate('app', undefined, { actor: 'tester' }));
  await assert.rejects(store.create('other', 'bytes', undefined, { actor: 'tester' }));
  await assert.rejects(store.delete('app', { actor: 'tester' }));
  assert.deepEqual((await store.versions('app')).map((m) => m.version), [2, 1]);
  assert.equal(await store.get('other'), null);
  await db.run(`DELETE FROM audit WHERE id = 3`);
  assert.deepEqual(await audit.verify(), { ok: true, count: 2 });
});

const WRITER = `
  import { openStore } from ${JSON.stringify(path.resolve('src/store/store.ts'))};
  const [url, file, key, prefix] = process.argv.slice(1);
  const store = await openStore({ url: url || undefined, file });
  const secrets = store.secrets(Buffer.from(key, 'hex'));
  for (let i = 0; ; i++) {
    await secrets.create(prefix + i, 'bytes', undefined, { actor: 'writer' });
    if (i === 20) process.stdout.write('writing\\n');
  }`;

bothEngines('kill -9 during audited secret writes never leaves a secret without its audit entry', async (h) => {
  const { spawn } = await import('node:child_process');
  const loc = await h.location();
  const mk = crypto.randomBytes(32);
  for (let run = 0; run < 3; run++) {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WRITER, loc.url ?? '', loc.file, mk.toString('hex'), `r${run}-s`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    // Let it write for a random while, then kill it without warning.
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 80)));
    p.kill('SIGKILL');
    await new Promise((r) => p.once('close', r));
    const db = loc.url ? new (await import('../src/store/postgres.ts')).PostgresEngine(loc.url) : new SqliteEngine(loc.file);
    try {
      const secrets = (await db.all<{ name: string }>(`SELECT name FROM secrets`)).map((r) => r.name).sort();
      // list() pages at most 1000 entries: read them all (a fast machine writes more than 1000 in three runs).
      const entries: Awaited<ReturnType<AuditLog['list']>> = [];
      for (let afterId = 0; ; ) {
        const page = await new AuditLog(db).list({ limit: 1000, afterId });
        entries.push(...page);
        if (page.length < 1000) break;
        afterId = page[page.length - 1]!.id;
      }
      const audited = entries.filter((e) => e.data['action'] === 'secret.create').map((e) => String(e.data['name'])).sort();
      assert.ok(secrets.length > 20);
      assert.deepEqual(secrets, audited, 'every secret has its audit entry and every entry its secret');
      assert.equal((await new AuditLog(db).verify()).ok, true);
    } finally {
      await db.close();
    }
  }
});
