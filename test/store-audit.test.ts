import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.ts';
import { AuditLog, canonicalJson } from '../src/store/audit.ts';
import { StoreError } from '../src/store/errors.ts';

function filled(n = 5) {
  const db = openDatabase(':memory:');
  const audit = new AuditLog(db);
  for (let i = 1; i <= n; i++) {
    audit.append({ type: i % 2 ? 'attest' : 'admin.secret.create', actor: `actor-${i}`, outcome: i % 2 ? 'allowed' : 'ok', data: { i, reasons: ['a', 'b'], nested: { z: 1, a: 2 } } });
  }
  return { db, audit };
}

test('an untouched chain verifies and entries link to each other', () => {
  const { db, audit } = filled(5);
  assert.deepEqual(audit.verify(), { ok: true, count: 5 });
  const all = audit.list();
  assert.equal(all.length, 5);
  assert.equal(all[0]!.prevHash, '0'.repeat(64));
  for (let i = 1; i < all.length; i++) assert.equal(all[i]!.prevHash, all[i - 1]!.hash);
  assert.deepEqual(all[2]!.data, { i: 3, reasons: ['a', 'b'], nested: { a: 2, z: 1 } });
  assert.deepEqual(audit.list({ type: 'attest' }).map((e) => e.id), [1, 3, 5]);
  assert.deepEqual(audit.list({ afterId: 3 }).map((e) => e.id), [4, 5]);
  assert.deepEqual(audit.list({ limit: 2 }).map((e) => e.id), [1, 2]);
  assert.deepEqual(audit.recent(2).map((e) => e.id), [5, 4]);
  db.close();
});

test('an empty trail verifies', () => {
  const db = openDatabase(':memory:');
  assert.deepEqual(new AuditLog(db).verify(), { ok: true, count: 0 });
});

test('an edited row is detected at that row', () => {
  for (const edit of [
    `UPDATE audit SET data = '{"i":99}' WHERE id = 3`,
    `UPDATE audit SET outcome = 'denied' WHERE id = 3`,
    `UPDATE audit SET actor = NULL WHERE id = 3`,
    `UPDATE audit SET ts = '2000-01-01T00:00:00.000Z' WHERE id = 3`,
    `UPDATE audit SET type = 'x' WHERE id = 3`,
  ]) {
    const { db, audit } = filled();
    db.exec(edit);
    const r = audit.verify();
    assert.equal(r.ok, false, edit);
    assert.equal(!r.ok && r.firstBadId, 3, edit);
    db.close();
  }
});

test('an edited row whose own hash was recomputed is detected at the next row', async () => {
  const crypto = await import('node:crypto');
  const { db, audit } = filled();
  const r3 = db.prepare(`SELECT * FROM audit WHERE id = 3`).get() as { ts: string; type: string; actor: string; outcome: string; prev_hash: string };
  const data = { i: 1000 };
  const body = canonicalJson({ id: 3, ts: r3.ts, type: r3.type, actor: r3.actor, outcome: r3.outcome, data });
  const hash = crypto.createHash('sha256').update(Buffer.from(r3.prev_hash, 'hex')).update(body).digest('hex');
  db.prepare(`UPDATE audit SET data = ?, hash = ? WHERE id = 3`).run(JSON.stringify(data), hash);
  const r = audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 4);
  db.close();
});

test('a deleted row is detected', () => {
  const { db, audit } = filled();
  db.exec(`DELETE FROM audit WHERE id = 2`);
  const r = audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 3);
  db.close();
});

test('deleting the last rows is detected against the recorded head', () => {
  const { db, audit } = filled();
  db.exec(`DELETE FROM audit WHERE id >= 4`);
  const r = audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 4);
  db.close();
});

test('reordered rows are detected', () => {
  const { db, audit } = filled();
  // Swap the contents of entries 2 and 3, keeping ids in sequence.
  db.exec(`UPDATE audit SET id = -2 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = -2;`);
  const r = audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 2);
  db.close();
});

test('binary values are refused, so key material cannot be recorded by mistake', () => {
  const db = openDatabase(':memory:');
  const audit = new AuditLog(db);
  const isInvalid = (e: unknown) => e instanceof StoreError && e.code === 'audit_invalid_entry';
  assert.throws(() => audit.append({ type: 't', data: { key: Buffer.from('x') } }), isInvalid);
  assert.throws(() => audit.append({ type: 't', data: { deep: [{ k: new Uint8Array(3) }] } }), isInvalid);
  assert.throws(() => audit.append({ type: 't', data: { n: Number.NaN } }), isInvalid);
  assert.deepEqual(audit.verify(), { ok: true, count: 0 });
});

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: null } }), '{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}');
});

test('the chain survives reopening and keeps growing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-audit-'));
  try {
    const file = path.join(dir, 'a.db');
    let db = openDatabase(file);
    new AuditLog(db).append({ type: 'one', data: {} });
    db.close();
    db = openDatabase(file);
    const audit = new AuditLog(db);
    audit.append({ type: 'two', data: { x: 'y' } });
    assert.deepEqual(audit.verify(), { ok: true, count: 2 });
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
