// The SQLite database: opening (WAL, foreign keys) and the numbered schema migrations of each component.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type { Database } from 'better-sqlite3';
type Db = Database.Database;

// Warden's own tables. Append new steps; never edit a released one.
const CORE_MIGRATIONS: string[] = [
  `CREATE TABLE meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );
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
   CREATE TABLE nonces (
     nonce BLOB PRIMARY KEY,
     issued_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     used_at INTEGER
   );
   CREATE INDEX nonces_expires ON nonces (expires_at);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     ts TEXT NOT NULL,
     type TEXT NOT NULL,
     actor TEXT,
     outcome TEXT,
     data TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX audit_type ON audit (type, id);
   CREATE TABLE admin_tokens (
     id TEXT PRIMARY KEY,
     role TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
     label TEXT,
     hash BLOB NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   );
   CREATE TABLE server_keys (
     kid TEXT PRIMARY KEY,
     purpose TEXT NOT NULL CHECK (purpose IN ('hpke', 'token')),
     public_key BLOB NOT NULL,
     sealed_private BLOB,
     created_at TEXT NOT NULL,
     retired_at TEXT,
     current INTEGER NOT NULL DEFAULT 0
   );
   CREATE UNIQUE INDEX server_keys_current ON server_keys (purpose) WHERE current = 1;`,
];

/**
 * Applies the not-yet-applied steps of one component's migration list, each in its own transaction.
 * Other modules (e.g. the collateral cache) call this with their own component name and steps.
 */
export function migrate(db: Db, component: string, steps: readonly string[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
  const run = db.transaction(() => {
    const row = db.prepare(`SELECT version FROM schema_version WHERE component = ?`).get(component) as
      | { version: number }
      | undefined;
    const current = row?.version ?? 0;
    if (current > steps.length) {
      throw new Error(`database schema of '${component}' is version ${current}, newer than this Warden (${steps.length})`);
    }
    for (let v = current; v < steps.length; v++) db.exec(steps[v]!);
    db.prepare(
      `INSERT INTO schema_version (component, version) VALUES (?, ?)
       ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
    ).run(component, steps.length);
  });
  run.immediate();
}

export function openDatabase(file: string): Db {
  // The directory holds the database and, in development, the master key: owner only.
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // Several processes (server, CLI) share the file; wait for a writer instead of failing.
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  migrate(db, 'core', CORE_MIGRATIONS);
  return db;
}
