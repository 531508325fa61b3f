// Versioned migrations on both engines: applied once, recorded, an older database brought forward with
// its data, and a schema newer than this Warden refused with a message that says so.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../src/store/errors.ts';
import { MIGRATIONS, SCHEMA_VERSION, migrate, schemaStatus } from '../src/store/migrations.ts';
import { PostgresEngine } from '../src/store/postgres.ts';
import { SqliteEngine } from '../src/store/sqlite.ts';
import { openStore } from '../src/store/store.ts';
import { warden } from './helpers/cli.ts';
import { bothEngines, sharedCluster } from './helpers/engines.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-migrations-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

bothEngines('a new database is migrated once to the latest version, and migrating again changes nothing', async (h) => {
  const engine = await h.engine();
  assert.deepEqual(await schemaStatus(engine), { current: SCHEMA_VERSION, latest: SCHEMA_VERSION });
  assert.deepEqual(await migrate(engine), []);
  const rows = await engine.all<{ version: number; name: string }>(`SELECT version, name FROM schema_migrations ORDER BY version`);
  assert.deepEqual(rows.map((r) => [Number(r.version), r.name]), MIGRATIONS.map((m) => [m.version, m.name]));
  for (const t of ['secrets', 'audit', 'admin_tokens', 'server_keys', 'consumed_nonces', 'collateral_cache', 'changes', 'locks', 'meta']) {
    assert.ok(await engine.get(`SELECT COUNT(*) AS n FROM ${t}`), t);
  }
});

bothEngines('a schema newer than this Warden is refused, by the store, warden db status and warden serve', async (h) => {
  const loc = await h.location();
  const engine = loc.url ? new PostgresEngine(loc.url) : new SqliteEngine(loc.file);
  await engine.run(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 'x')`, [SCHEMA_VERSION + 1]);
  await assert.rejects(migrate(engine), (e: unknown) => e instanceof StoreError && e.code === 'schema_too_new' && /version \d+, newer than this Warden/.test(e.message));
  await engine.close();
  await assert.rejects(openStore(loc), (e: unknown) => e instanceof StoreError && e.code === 'schema_too_new');
  let args: string[];
  if (loc.url) args = ['--database', loc.url];
  else {
    // The CLI finds warden.db in its data directory: put the future database there.
    const data = fs.mkdtempSync(path.join(dir, 'future-'));
    fs.renameSync(loc.file, path.join(data, 'warden.db'));
    args = ['--data', data];
  }
  const st = warden(['db', 'status', ...args]);
  assert.equal(st.status, 1, st.stderr);
  assert.match(st.stdout, /NEWER than this Warden/);
  const serve = warden(['serve', '--dev', '--http', '--port', '0', '--policies', fs.mkdtempSync(path.join(dir, 'pol-')), ...(loc.url ? ['--data', fs.mkdtempSync(path.join(dir, 'd-'))] : []), ...args]);
  assert.equal(serve.status, 1, serve.stdout);
  assert.match(serve.stderr, /schema is version \d+, newer than this Warden knows/);
});

bothEngines('warden db migrate brings an empty database to the latest version', async (h) => {
  const args = h.kind === 'postgres' ? ['--database', await (await sharedCluster()).createDatabase()] : ['--data', fs.mkdtempSync(path.join(dir, 'cli-'))];
  const r = warden(['db', 'migrate', ...args]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /applied migration 1:/);
  assert.match(r.stdout, new RegExp(`schema at version ${SCHEMA_VERSION}`));
  const again = warden(['db', 'migrate', ...args]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing to do/);
});

test('a SQLite database made before versioned migrations keeps its data and is brought forward', async () => {
  const file = path.join(dir, 'legacy.db');
  // The schema as the previous release made it: schema_version 'core' = 1 and the core tables.
  const raw = new Database(file);
  raw.exec(`CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
  raw.exec(MIGRATIONS[0]!.sqlite);
  raw.prepare(`INSERT INTO schema_version VALUES ('core', 1)`).run();
  raw.close();
  const mk = crypto.randomBytes(32);
  {
    // Data written by the previous schema (through the same tables).
    const store = await openStore({ file });
    await store.secrets(mk).create('kept', 'bytes', Buffer.from('value'));
    await store.audit.append({ type: 't', data: {} });
    await store.close();
  }
  const store = await openStore({ file });
  assert.deepEqual((await store.secrets(mk).get('kept'))!.value, Buffer.from('value'));
  assert.deepEqual(await store.audit.verify(), { ok: true, count: 1 });
  assert.deepEqual(await schemaStatus(store.engine), { current: SCHEMA_VERSION, latest: SCHEMA_VERSION });
  assert.equal((await store.engine.get<{ n: number }>(`SELECT COUNT(*) AS n FROM schema_migrations WHERE version = 1`))!.n, 1);
  await store.close();
});

bothEngines('CLI commands on the database exit when done: no connection keeps them alive', async (h) => {
  // A `secret list` on PostgreSQL used to hang: the change listener's connection, still connecting when
  // the command closed the store, stayed open afterwards.
  const args = h.kind === 'postgres' ? ['--database', await (await sharedCluster()).createDatabase()] : ['--data', fs.mkdtempSync(path.join(dir, 'exit-'))];
  const env = { ...process.env, WARDEN_TEST_MK: crypto.randomBytes(32).toString('hex') };
  const mk = ['--master-key-env', 'WARDEN_TEST_MK'];
  for (const cmd of [['db', 'migrate'], ['secret', 'create', 'k1', '--kind', 'sefs-key', ...mk], ['secret', 'list', ...mk], ['secret', 'rotate', 'k1', ...mk], ['admin', 'keys', 'show', ...mk], ['audit', 'verify']]) {
    const r = warden([...cmd, ...args], { env });
    // spawnSync's timeout kills a command that does not exit: status null.
    assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }
});

bothEngines('migration 3: the collateral cache takes the TDX items (TDX TCB Info, TD QE identity) and still refuses unknown kinds', async (h) => {
  const engine = await h.engine();
  const row = (kind: string) => [kind, 'b0c06f000000', Buffer.from('{}'), '', 'test', 1, 1, 2];
  const insert = `INSERT INTO collateral_cache (kind, key, raw, issuer_chain, source, fetched_at, issue_date, next_update) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
  for (const kind of ['tcb_info', 'tdx_tcb_info', 'td_qe_identity']) await engine.run(insert, row(kind));
  await assert.rejects(engine.run(insert, row('sev_tcb_info')));
});

test('migration 3 keeps the rows of a version 2 SQLite collateral cache', async () => {
  const file = path.join(dir, 'v2.db');
  const raw = new Database(file);
  raw.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
    raw.exec(m.sqlite);
    raw.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 'x')`).run(m.version, m.name);
  }
  raw.prepare(`INSERT INTO collateral_cache VALUES ('tcb_info', '00906ed50000', ?, 'chain', 'src', 1, 2, 3)`).run(Buffer.from('tcb'));
  raw.close();
  const engine = new SqliteEngine(file);
  try {
    assert.deepEqual((await migrate(engine)).map((m) => m.version), [3]);
    const rows = await engine.all<{ kind: string; key: string; raw: Buffer; next_update: number }>(`SELECT kind, key, raw, next_update FROM collateral_cache`);
    assert.deepEqual(rows.map((r) => [r.kind, r.key, Buffer.from(r.raw).toString(), Number(r.next_update)]), [['tcb_info', '00906ed50000', 'tcb', 3]]);
  } finally {
    await engine.close();
  }
});
