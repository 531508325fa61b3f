// Issue #14, finding 3: audit retention. `warden audit archive` moves old entries to a signed segment and
// leaves a checkpoint; the live chain verifies from it, and the segments verify and link up to it. A gap,
// an edit, a truncation or a foreign signature is an error.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { archiveAudit, verifyArchives } from '../src/store/audit-archive.ts';
import { StoreError } from '../src/store/errors.ts';
import { openSqliteStore, type Store } from '../src/store/store.ts';
import { warden } from './helpers/cli.ts';
import { bothEngines } from './helpers/engines.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-archive-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const mk = crypto.randomBytes(32);
let files = 0;
const out = () => path.join(dir, `segment-${++files}.jsonl`);

/** Entries on three days, 10 a day. */
async function fill(store: Store, clock: { t: number }): Promise<void> {
  for (const day of ['2026-01-01', '2026-01-02', '2026-01-03']) {
    clock.t = Date.parse(`${day}T12:00:00Z`);
    for (let i = 0; i < 10; i++) await store.audit.append({ type: 'attestation', outcome: 'allowed', data: { day, i } });
  }
}

bothEngines('archives link from the first entry to the live checkpoint; the live chain verifies from it', async (h) => {
  const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
  const store = await h.store(() => new Date(clock.t));
  const signer = await store.keys(mk).currentTokenKey();
  await fill(store, clock);
  const first = out();
  const a = await archiveAudit(store.engine, store.audit, { before: new Date('2026-01-02T00:00:00Z'), out: first, signer, actor: 'test' });
  assert.deepEqual({ count: a.count, firstId: a.firstId, lastId: a.lastId }, { count: 10, firstId: 1, lastId: 10 });
  assert.equal(Number((await store.engine.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit WHERE id <= 10`))!.n), 0, 'archived entries left the store');
  // The live chain: 20 entries and the archive's own entry, verified from the checkpoint.
  assert.deepEqual(await store.audit.verify(), { ok: true, count: 21, from: 11 });
  const [rec] = await store.audit.recent(1);
  assert.equal(rec!.data['action'], 'audit.archive');
  assert.equal(rec!.data['count'], 10);
  assert.equal(rec!.data['sha256'], crypto.createHash('sha256').update(fs.readFileSync(first)).digest('hex'));
  assert.deepEqual(await verifyArchives(store.engine, store.audit, [first]), { ok: true, segments: [{ file: first, firstId: 1, lastId: 10, count: 10 }], through: 10 });

  // Nothing older than the date left: nothing archived, no file.
  const none = out();
  assert.deepEqual(await archiveAudit(store.engine, store.audit, { before: new Date('2026-01-02T00:00:00Z'), out: none, signer, actor: 'test' }), { count: 0 });
  assert.equal(fs.existsSync(none), false);

  // A second segment after a token-key rotation: both keys' anchors still verify.
  await store.keys(mk).rotateTokenKey();
  const second = out();
  const b = await archiveAudit(store.engine, store.audit, { before: new Date('2026-01-03T00:00:00Z'), out: second, signer: await store.keys(mk).currentTokenKey(), actor: 'test' });
  assert.deepEqual({ firstId: b.firstId, lastId: b.lastId }, { firstId: 11, lastId: 20 });
  const both = await verifyArchives(store.engine, store.audit, [second, first]);
  assert.equal(both.ok, true, JSON.stringify(both));
  assert.deepEqual(await store.audit.verify(), { ok: true, count: 12, from: 21 });

  // A missing segment is a gap, never silence.
  const gap = await verifyArchives(store.engine, store.audit, [second]);
  assert.deepEqual(gap, { ok: false, reason: 'entries 1..10 are in none of the segments given' });
  const short = await verifyArchives(store.engine, store.audit, [first]);
  assert.equal(short.ok, false);
  assert.match((short as { reason: string }).reason, /entries 11\.\.20 were archived but are in none/);

  // Removing live entries right after the checkpoint is detected by the live verify.
  await store.engine.run(`DELETE FROM audit WHERE id = 21`);
  const live = await store.audit.verify();
  assert.equal(live.ok, false);
  await store.close();
});

test('an edited, truncated, reordered or foreign-signed segment does not verify', async () => {
  const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
  const file = path.join(dir, 'tamper.db');
  const store = await openSqliteStore(file, () => new Date(clock.t));
  await fill(store, clock);
  const seg = out();
  await archiveAudit(store.engine, store.audit, { before: new Date('2026-01-02T00:00:00Z'), out: seg, signer: await store.keys(mk).currentTokenKey(), actor: 'test' });
  const lines = fs.readFileSync(seg, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 12, 'header, 10 entries, anchor');
  const check = async (name: string, content: string, reason: RegExp) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    const r = await verifyArchives(store.engine, store.audit, [f]);
    assert.equal(r.ok, false, name);
    assert.match((r as { reason: string }).reason, reason, name);
  };
  const edited = [...lines];
  edited[3] = edited[3]!.replace('\\"i\\":2', '\\"i\\":7');
  await check('edited', edited.join('\n') + '\n', /entry 3: entry contents do not match its hash|entry 4: previous-hash link/);
  await check('truncated', lines.slice(0, -1).join('\n') + '\n', /no anchor \(truncated\)/);
  await check('line-removed', [...lines.slice(0, 5), ...lines.slice(6)].join('\n') + '\n', /entries 5\.\.5 are missing/);
  await check('first-removed', [lines[0], ...lines.slice(2)].join('\n') + '\n', /entry 2: previous-hash link|not the range its anchor signs/);
  await check('reordered', [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n', /missing|previous-hash/);
  await check('not-a-segment', '{"hello":1}\n', /not a Warden audit segment/);
  // A segment signed by a key this server never had.
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = await openSqliteStore(path.join(dir, 'other.db'), () => new Date(clock.t));
  await fill(other, clock);
  const foreign = out();
  await archiveAudit(other.engine, other.audit, { before: new Date('2026-01-02T00:00:00Z'), out: foreign, signer: { kid: 'intruder', privateKey }, actor: 'test' });
  await check('foreign', fs.readFileSync(foreign, 'utf8'), /does not verify with any token key of this server/);
  await other.close();
  await store.close();
});

test('a live chain that does not verify is not archived', async () => {
  const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
  const store = await openSqliteStore(path.join(dir, 'broken.db'), () => new Date(clock.t));
  await fill(store, clock);
  await store.engine.run(`UPDATE audit SET data = '{"day":"2026-01-01","i":99}' WHERE id = 4`);
  const seg = out();
  await assert.rejects(
    archiveAudit(store.engine, store.audit, { before: new Date('2026-01-02T00:00:00Z'), out: seg, signer: await store.keys(mk).currentTokenKey(), actor: 'test' }),
    (e: unknown) => e instanceof StoreError && e.code === 'audit_archive_invalid' && /entry 4/.test(e.message),
  );
  assert.equal(fs.existsSync(seg), false);
  assert.equal(fs.existsSync(`${seg}.partial`), false);
  assert.equal(Number((await store.engine.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit`))!.n), 30, 'nothing removed');
  await store.close();
});

test('warden audit archive and audit verify --archive', async () => {
  const data = fs.mkdtempSync(path.join(dir, 'cli-'));
  const env = { ...process.env, WARDEN_TEST_MK: mk.toString('hex') };
  const MK = ['--master-key-env', 'WARDEN_TEST_MK', '--data', data];
  for (let i = 0; i < 3; i++) assert.equal(warden(['secret', 'create', `s${i}`, '--kind', 'bytes', ...MK], { env }).status, 0);
  const seg = path.join(data, 'audit-1.jsonl');
  const tomorrow = new Date(Date.now() + 86400_000).toISOString().slice(0, 10);
  let r = warden(['audit', 'archive', '--before', tomorrow, '--out', seg, ...MK], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /archived entries 1\.\.3 \(3\)/);
  r = warden(['audit', 'verify', '--data', data], { env });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /intact: 1 entries from entry 4 \(entries before it are archived\)/);
  r = warden(['audit', 'verify', '--archive', seg, '--data', data], { env });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /archived segments intact: 1 segment\(s\), entries 1\.\.3/);
  fs.appendFileSync(seg, '{"id":99}\n');
  r = warden(['audit', 'verify', '--archive', seg, '--data', data], { env });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /archived segments NOT intact: .*follows the anchor/);
  // An existing file is never overwritten (refused: exit 1, as every "already exists"); a date needs a zone (usage: exit 2).
  assert.equal(warden(['audit', 'archive', '--before', tomorrow, '--out', seg, ...MK], { env }).status, 1);
  assert.equal(warden(['audit', 'archive', '--before', '2026-01-01T00:00:00', '--out', path.join(data, 'x'), ...MK], { env }).status, 2);
});
