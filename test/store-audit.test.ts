import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog, canonicalJson } from '../src/store/audit.ts';
import type { Engine } from '../src/store/engine.ts';
import { StoreError } from '../src/store/errors.ts';
import { bothEngines, type EngineHarness } from './helpers/engines.ts';

async function filled(h: EngineHarness, n = 5): Promise<{ db: Engine; audit: AuditLog }> {
  const db = await h.engine();
  const audit = new AuditLog(db);
  for (let i = 1; i <= n; i++) {
    await audit.append({ type: i % 2 ? 'attest' : 'admin.secret.create', actor: `actor-${i}`, outcome: i % 2 ? 'allowed' : 'ok', data: { i, reasons: ['a', 'b'], nested: { z: 1, a: 2 } } });
  }
  return { db, audit };
}

bothEngines('an untouched chain verifies and entries link to each other', async (h) => {
  const { audit } = await filled(h, 5);
  assert.deepEqual(await audit.verify(), { ok: true, count: 5 });
  const all = await audit.list();
  assert.equal(all.length, 5);
  assert.equal(all[0]!.prevHash, '0'.repeat(64));
  for (let i = 1; i < all.length; i++) assert.equal(all[i]!.prevHash, all[i - 1]!.hash);
  assert.deepEqual(all[2]!.data, { i: 3, reasons: ['a', 'b'], nested: { a: 2, z: 1 } });
  assert.deepEqual((await audit.list({ type: 'attest' })).map((e) => e.id), [1, 3, 5]);
  assert.deepEqual((await audit.list({ afterId: 3 })).map((e) => e.id), [4, 5]);
  assert.deepEqual((await audit.list({ limit: 2 })).map((e) => e.id), [1, 2]);
  assert.deepEqual((await audit.recent(2)).map((e) => e.id), [5, 4]);
});

bothEngines('an empty trail verifies', async (h) => {
  assert.deepEqual(await new AuditLog(await h.engine()).verify(), { ok: true, count: 0 });
});

bothEngines('an edited row is detected at that row', async (h) => {
  for (const edit of [
    `UPDATE audit SET data = '{"i":99}' WHERE id = 3`,
    `UPDATE audit SET outcome = 'denied' WHERE id = 3`,
    `UPDATE audit SET actor = NULL WHERE id = 3`,
    `UPDATE audit SET ts = '2000-01-01T00:00:00.000Z' WHERE id = 3`,
    `UPDATE audit SET type = 'x' WHERE id = 3`,
  ]) {
    const { db, audit } = await filled(h);
    await db.exec(edit);
    const r = await audit.verify();
    assert.equal(r.ok, false, edit);
    assert.equal(!r.ok && r.firstBadId, 3, edit);
    }
});

bothEngines('an edited row whose own hash was recomputed is detected at the next row', async (h) => {
  const crypto = await import('node:crypto');
  const { db, audit } = await filled(h);
  const r3 = (await db.get<{ ts: string; type: string; actor: string; outcome: string; prev_hash: string }>(`SELECT * FROM audit WHERE id = 3`))!;
  const data = { i: 1000 };
  const body = canonicalJson({ id: 3, ts: r3.ts, type: r3.type, actor: r3.actor, outcome: r3.outcome, data });
  const hash = crypto.createHash('sha256').update(Buffer.from(r3.prev_hash, 'hex')).update(body).digest('hex');
  await db.run(`UPDATE audit SET data = ?, hash = ? WHERE id = 3`, [JSON.stringify(data), hash]);
  const r = await audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 4);
});

bothEngines('a deleted row is detected', async (h) => {
  const { db, audit } = await filled(h);
  await db.exec(`DELETE FROM audit WHERE id = 2`);
  const r = await audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 3);
});

bothEngines('deleting the last rows is detected against the recorded head', async (h) => {
  const { db, audit } = await filled(h);
  await db.exec(`DELETE FROM audit WHERE id >= 4`);
  const r = await audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 4);
});

bothEngines('reordered rows are detected', async (h) => {
  const { db, audit } = await filled(h);
  // Swap the contents of entries 2 and 3, keeping ids in sequence.
  await db.exec(`UPDATE audit SET id = -2 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = -2;`);
  const r = await audit.verify();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadId, 2);
});

bothEngines('binary values are refused, so key material cannot be recorded by mistake', async (h) => {
  const audit = new AuditLog(await h.engine());
  const isInvalid = (e: unknown) => e instanceof StoreError && e.code === 'audit_invalid_entry';
  await assert.rejects(audit.append({ type: 't', data: { key: Buffer.from('x') } }), isInvalid);
  await assert.rejects(audit.append({ type: 't', data: { deep: [{ k: new Uint8Array(3) }] } }), isInvalid);
  await assert.rejects(audit.append({ type: 't', data: { n: Number.NaN } }), isInvalid);
  assert.deepEqual(await audit.verify(), { ok: true, count: 0 });
});

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: null } }), '{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}');
});

bothEngines('the chain survives reopening and keeps growing', async (h) => {
  const db = await h.engine();
  await new AuditLog(db).append({ type: 'one', data: {} });
  await db.close();
  const audit = new AuditLog(await h.reopen(db));
  await audit.append({ type: 'two', data: { x: 'y' } });
  assert.deepEqual(await audit.verify(), { ok: true, count: 2 });
});

bothEngines('appends of one event-loop turn commit as one group, and each resolves with its committed entry', async (h) => {
  const db = await h.engine();
  const audit = new AuditLog(db);
  const entries = await Promise.all(Array.from({ length: 50 }, (_, i) => audit.append({ type: 't', data: { i } })));
  assert.deepEqual(entries.map((e) => e.id), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(audit.stats(), { groups: 1, entries: 50 });
  // Resolved means committed: another connection sees every one of them.
  const other = await h.reopen(db);
  assert.equal((await other.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit`))!.n, 50);
  assert.deepEqual(await audit.verify(), { ok: true, count: 50 });
});

bothEngines('two processes appending at once extend one chain', async (h) => {
  const a = await h.engine();
  const b = await h.reopen(a);
  const la = new AuditLog(a);
  const lb = new AuditLog(b);
  const rounds = 20;
  for (let r = 0; r < rounds; r++) {
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => la.append({ type: 'a', data: { r, i } })),
      ...Array.from({ length: 5 }, (_, i) => lb.append({ type: 'b', data: { r, i } })),
    ]);
  }
  assert.deepEqual(await la.verify(), { ok: true, count: rounds * 10 });
});

bothEngines('a failed group commit rejects every append in it and leaves the chain intact', async (h) => {
  const db = await h.engine();
  const audit = new AuditLog(db);
  await audit.append({ type: 'first', data: {} });
  // A row in the way of the next id: the group's insert fails as a whole.
  await db.run(`INSERT INTO audit (id, ts, type, actor, outcome, data, prev_hash, hash) VALUES (2, 'x', 'x', NULL, NULL, '{}', 'x', 'x')`);
  const results = await Promise.allSettled([audit.append({ type: 'a', data: {} }), audit.append({ type: 'b', data: {} })]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  await db.run(`DELETE FROM audit WHERE id = 2`);
  assert.deepEqual(await audit.verify(), { ok: true, count: 1 });
  assert.equal((await audit.append({ type: 'c', data: {} })).id, 2);
});

bothEngines('verification yields to the event loop: other work runs while a long chain is checked', async (h) => {
  const audit = new AuditLog(await h.engine());
  for (let k = 0; k < 5; k++) await Promise.all(Array.from({ length: 1000 }, (_, i) => audit.append({ type: 't', data: { k, i } })));
  // Count event-loop turns that other work got while verify ran. A verification that blocked the loop
  // would let none run before it finished.
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const r = await audit.verify();
  done = true;
  assert.deepEqual(r, { ok: true, count: 5000 });
  assert.ok(turns >= 5, `only ${turns} event-loop turns ran during verification of 5000 entries`);
});
