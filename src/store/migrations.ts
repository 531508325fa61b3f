// Versioned schema migrations, one list for both engines: each step has its SQLite and its PostgreSQL
// text. Applied steps are recorded in `schema_migrations`. Append new steps; never edit a released one.
// A database whose schema is newer than this Warden is refused: an older server must not write to
// tables whose meaning it does not know.
import type { Engine, Queryable } from './engine.ts';
import { StoreError } from './errors.ts';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core: secrets, nonces, audit, admin tokens, server keys',
    sqlite: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE secrets (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('sefs-key', 'bytes')),
        sealed BLOB NOT NULL,
        created_at TEXT NOT NULL,
        rotated_at TEXT,
        released_until TEXT,
        PRIMARY KEY (name, version)
      );
      CREATE TABLE nonces (nonce BLOB PRIMARY KEY, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);
      CREATE INDEX nonces_expires ON nonces (expires_at);
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL, type TEXT NOT NULL, actor TEXT, outcome TEXT, data TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL
      );
      CREATE INDEX audit_type ON audit (type, id);
      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
        label TEXT, hash BLOB NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
      );
      CREATE TABLE server_keys (
        kid TEXT PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('hpke', 'token')),
        public_key BLOB NOT NULL, sealed_private BLOB, created_at TEXT NOT NULL, retired_at TEXT,
        current INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX server_keys_current ON server_keys (purpose) WHERE current = 1;`,
    postgres: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE secrets (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('sefs-key', 'bytes')),
        sealed BYTEA NOT NULL,
        created_at TEXT NOT NULL,
        rotated_at TEXT,
        released_until TEXT,
        PRIMARY KEY (name, version)
      );
      CREATE TABLE nonces (nonce BYTEA PRIMARY KEY, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT);
      CREATE INDEX nonces_expires ON nonces (expires_at);
      CREATE TABLE audit (
        id BIGINT PRIMARY KEY,
        ts TEXT NOT NULL, type TEXT NOT NULL, actor TEXT, outcome TEXT, data TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL
      );
      CREATE INDEX audit_type ON audit (type, id);
      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
        label TEXT, hash BYTEA NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT
      );
      CREATE TABLE server_keys (
        kid TEXT PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('hpke', 'token')),
        public_key BYTEA NOT NULL, sealed_private BYTEA, created_at TEXT NOT NULL, retired_at TEXT,
        current INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX server_keys_current ON server_keys (purpose) WHERE current = 1;`,
  },
  {
    version: 2,
    name: 'replicas: consumed nonces, change generations, locks, collateral cache',
    // Nonces are self-authenticating from now on (see nonces.ts): only consumed ones are stored, until
    // they expire. The old table held nothing that outlives a restart.
    sqlite: `
      DROP TABLE nonces;
      CREATE TABLE consumed_nonces (nonce BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX consumed_nonces_expires ON consumed_nonces (expires_at);
      CREATE TABLE changes (topic TEXT PRIMARY KEY, generation INTEGER NOT NULL);
      CREATE TABLE locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS collateral_cache (
        kind TEXT NOT NULL CHECK (kind IN ('tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl')),
        key TEXT NOT NULL, raw BLOB NOT NULL, issuer_chain TEXT NOT NULL, source TEXT NOT NULL,
        fetched_at INTEGER NOT NULL, issue_date INTEGER NOT NULL, next_update INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      );`,
    postgres: `
      DROP TABLE nonces;
      CREATE TABLE consumed_nonces (nonce BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL);
      CREATE INDEX consumed_nonces_expires ON consumed_nonces (expires_at);
      CREATE TABLE changes (topic TEXT PRIMARY KEY, generation BIGINT NOT NULL);
      CREATE TABLE locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
      CREATE TABLE collateral_cache (
        kind TEXT NOT NULL CHECK (kind IN ('tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl')),
        key TEXT NOT NULL, raw BYTEA NOT NULL, issuer_chain TEXT NOT NULL, source TEXT NOT NULL,
        fetched_at BIGINT NOT NULL, issue_date BIGINT NOT NULL, next_update BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
      );`,
  },
  {
    version: 3,
    name: 'collateral cache: TDX TCB Info and TD QE identity items',
    // SQLite cannot change a CHECK constraint in place: the table is rebuilt with its rows.
    sqlite: `
      CREATE TABLE collateral_cache_v3 (
        kind TEXT NOT NULL CHECK (kind IN ('tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl', 'tdx_tcb_info', 'td_qe_identity')),
        key TEXT NOT NULL, raw BLOB NOT NULL, issuer_chain TEXT NOT NULL, source TEXT NOT NULL,
        fetched_at INTEGER NOT NULL, issue_date INTEGER NOT NULL, next_update INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      );
      INSERT INTO collateral_cache_v3 (kind, key, raw, issuer_chain, source, fetched_at, issue_date, next_update)
        SELECT kind, key, raw, issuer_chain, source, fetched_at, issue_date, next_update FROM collateral_cache;
      DROP TABLE collateral_cache;
      ALTER TABLE collateral_cache_v3 RENAME TO collateral_cache;`,
    postgres: `
      ALTER TABLE collateral_cache DROP CONSTRAINT IF EXISTS collateral_cache_kind_check;
      ALTER TABLE collateral_cache ADD CONSTRAINT collateral_cache_kind_check CHECK (kind IN ('tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl', 'tdx_tcb_info', 'td_qe_identity'));`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export interface SchemaStatus {
  /** The version the database is at (0: empty). */
  current: number;
  /** The version this Warden knows. */
  latest: number;
}

async function ensureTable(q: Queryable, engine: Engine): Promise<void> {
  await q.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  if (engine.kind === 'sqlite') {
    // Databases made before schema_migrations recorded their core schema as schema_version 'core' = 1:
    // that schema is migration 1.
    const legacy = await q.get<{ version: number }>(
      `SELECT version FROM schema_version WHERE component = 'core' AND NOT EXISTS (SELECT 1 FROM schema_migrations)`,
    ).catch(() => undefined);
    if (legacy?.version === 1) {
      await q.run(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?, ?)`, [MIGRATIONS[0]!.name, new Date().toISOString()]);
    }
  }
}

async function currentVersion(q: Queryable): Promise<number> {
  const row = await q.get<{ v: number | null }>(`SELECT MAX(version) AS v FROM schema_migrations`);
  return Number(row?.v ?? 0);
}

function tooNew(current: number): StoreError {
  return new StoreError(
    'schema_too_new',
    `the database schema is version ${current}, newer than this Warden knows (${SCHEMA_VERSION}): run a Warden of that version or newer`,
  );
}

/** The schema version of a database, without changing it. */
export async function schemaStatus(engine: Engine): Promise<SchemaStatus> {
  return engine.tx(async (q) => {
    await ensureTable(q, engine);
    return { current: await currentVersion(q), latest: SCHEMA_VERSION };
  }, { lock: 'migrate' });
}

/**
 * Applies every step the database lacks, all in one transaction under the migration lock (two replicas
 * starting together migrate once). Returns the steps applied. Refuses a schema newer than this Warden.
 */
export async function migrate(engine: Engine, now: () => Date = () => new Date()): Promise<Migration[]> {
  return engine.tx(async (q) => {
    await ensureTable(q, engine);
    const current = await currentVersion(q);
    if (current > SCHEMA_VERSION) throw tooNew(current);
    const applied: Migration[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await q.exec(engine.kind === 'sqlite' ? m.sqlite : m.postgres);
      await q.run(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, [m.version, m.name, now().toISOString()]);
      applied.push(m);
    }
    return applied;
  }, { lock: 'migrate' });
}
