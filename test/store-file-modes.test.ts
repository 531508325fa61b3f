// The database and its WAL hold sealed secrets, the audit trail and admin token hashes: they are created
// owner-only whatever the umask, and an existing database open to others is tightened (issue #14 finding 8).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SqliteEngine } from '../src/store/sqlite.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-modes-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const mode = (f: string) => fs.statSync(f).mode & 0o777;

test('warden.db, its WAL and shared-memory files are created 0600 under a permissive umask', async () => {
  const old = process.umask(0o022);
  try {
    const file = path.join(dir, 'new', 'warden.db');
    const engine = new SqliteEngine(file);
    engine.db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      assert.ok(fs.existsSync(f), f);
      assert.equal(mode(f), 0o600, `${path.basename(f)} is 0${mode(f).toString(8)}`);
    }
    assert.equal(mode(path.dirname(file)), 0o700);
    await engine.close();
  } finally {
    process.umask(old);
  }
});

test('an existing database (and WAL) readable by others is tightened to 0600 on open', async () => {
  const file = path.join(dir, 'old.db');
  await new SqliteEngine(file).close();
  fs.chmodSync(file, 0o644);
  fs.writeFileSync(`${file}-wal`, '');
  fs.chmodSync(`${file}-wal`, 0o644);
  const engine = new SqliteEngine(file);
  assert.equal(mode(file), 0o600);
  assert.equal(mode(`${file}-wal`), 0o600);
  await engine.close();
});
