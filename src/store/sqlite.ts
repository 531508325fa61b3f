// The SQLite engine: one better-sqlite3 connection per process, WAL, owner-only files.
// better-sqlite3 is synchronous, so a transaction whose body awaits would let other requests' statements
// run inside it; this engine therefore queues every statement behind an open transaction of its process.
// Other processes (workers, the CLI) are kept out by SQLite's own write lock (BEGIN IMMEDIATE).
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChangeTopic, Engine, LockName, Queryable, SqlValue, TxOptions } from './engine.ts';
import { LOCKS } from './engine.ts';
import { StoreError } from './errors.ts';

type Db = Database.Database;

// Errors that say "the database cannot be used right now", not "this statement is wrong".
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY|NOTADB|CORRUPT|PROTOCOL)/;

function unavailable(e: unknown): never {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && UNAVAILABLE.test(code)) throw new StoreError('store_unavailable', `database unavailable (${code})`);
  throw e;
}

/** How long a statement waits for another process's write lock before store_unavailable. */
const BUSY_WAIT_MS = 5000;

/** How long a cross-process lock (a lease row) lasts if its holder dies without releasing it. */
const LEASE_MS = 10 * 60_000;

/**
 * An existing database (or its WAL, shared-memory or journal file) that others can read is made owner-only
 * before it is opened: files made before Warden created them 0600 were 0644 (issue #14 finding 8). SQLite
 * gives new -wal and -shm files the database file's mode (os_unix.c, findCreateFileMode).
 */
function tightenExisting(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch {
      // absent, or not ours to change (then SQLite's own open decides)
    }
  }
}

export class SqliteEngine implements Engine {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly db: Db;
  private readonly stmts = new Map<string, Database.Statement>();
  /** Settles when the transaction in progress (if any) has finished. */
  private txDone: Promise<void> | null = null;
  private readonly listeners = new Set<(t: ChangeTopic | null) => void>();
  private dataVersion = -1;
  private generations = new Map<string, number>();
  private readonly inner: Queryable;
  private readonly outer: Queryable;
  // Prepared once: db.pragma() and db.exec() compile their SQL on every call, and these run several times
  // per release (a poll before each cached read, a transaction per group commit).
  private readonly dataVersionStmt: Database.Statement;
  private readonly beginStmt: Database.Statement;
  private readonly commitStmt: Database.Statement;

  constructor(file: string) {
    this.location = file;
    if (file !== ':memory:') {
      // The directory holds the database and, in development, the master key: owner only. The files
      // themselves are created owner-only too (umask for the database, its WAL and shared memory).
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
      tightenExisting(file);
    }
    const old = process.umask(0o077);
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
    } finally {
      process.umask(old);
    }
    this.db.pragma('foreign_keys = ON');
    // Several processes (server workers, CLI) share the file. SQLite's own busy wait would block the
    // event loop (and deadlock two connections of one process); this engine waits asynchronously instead.
    this.db.pragma('busy_timeout = 0');
    // A commit is durable against a crash of the process (kill -9) as soon as it returns; against a
    // power loss or OS crash the last commits before the next checkpoint may be lost (WAL, NORMAL).
    this.db.pragma('synchronous = NORMAL');
    this.inner = this.queryable(false);
    this.outer = this.queryable(true);
    this.dataVersionStmt = this.db.prepare('PRAGMA data_version').pluck();
    this.beginStmt = this.db.prepare('BEGIN IMMEDIATE');
    this.commitStmt = this.db.prepare('COMMIT');
  }

  /** Statements for use inside this process's open transaction (`outside` false) or outside any (true). */
  private queryable(outside: boolean): Queryable {
    const run = <T>(f: () => T) => this.attempt(f, outside);
    return {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => run(() => this.stmt(sql).all(...params) as T[]),
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => run(() => this.stmt(sql).get(...params) as T | undefined),
      run: async (sql: string, params: readonly SqlValue[] = []) => run(() => ({ changes: this.stmt(sql).run(...params).changes })),
      exec: async (sql: string) => run(() => void this.db.exec(sql)),
      insertMany: async (table, columns, rows) => {
        const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
        await run(() => {
          const s = this.stmt(sql);
          for (const r of rows) s.run(...r);
        });
      },
    };
  }

  /**
   * Runs one statement; while another process holds the write lock (SQLITE_BUSY) it retries after short
   * asynchronous waits, for up to BUSY_WAIT_MS, then reports store_unavailable. A statement `outside` a
   * transaction first waits until this process has none open; that check and the statement run in one
   * synchronous step, so it can never land inside another caller's transaction.
   */
  private async attempt<T>(f: () => T, outside: boolean): Promise<T> {
    let wait = 1;
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (;;) {
      if (outside) while (this.txDone) await this.txDone;
      try {
        return f();
      } catch (e) {
        const code = (e as { code?: unknown })?.code;
        if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) unavailable(e);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 50);
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.stmts.size >= 500) this.stmts.delete(this.stmts.keys().next().value!);
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** Waits until no transaction of this process is open. */
  private async idle(): Promise<void> {
    while (this.txDone) await this.txDone;
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.outer.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.outer.get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.outer.run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.outer.exec(sql);
  }

  insertMany(table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[]): Promise<void> {
    return this.outer.insertMany(table, columns, rows);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>, _opts: TxOptions = {}): Promise<T> {
    // Wait and take the turn in one synchronous step: two callers woken by the same commit must not
    // both see "no transaction" and both BEGIN.
    while (this.txDone) await this.txDone;
    let done!: () => void;
    this.txDone = new Promise<void>((r) => (done = r));
    const topics = new Set<ChangeTopic>();
    this.pendingTopics = topics;
    try {
      await this.attempt(() => void this.beginStmt.run(), false);
      let result: T;
      try {
        result = await fn(this.inner);
        await this.attempt(() => void this.commitStmt.run(), false);
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
      // Our own commits do not change our data_version: tell this process's listeners directly.
      for (const t of topics) this.emit(t);
      return result;
    } finally {
      this.pendingTopics = null;
      this.txDone = null;
      done();
    }
  }

  private pendingTopics: Set<ChangeTopic> | null = null;

  async notify(q: Queryable, topic: ChangeTopic): Promise<void> {
    await q.run(`INSERT INTO changes (topic, generation) VALUES (?, 1) ON CONFLICT (topic) DO UPDATE SET generation = changes.generation + 1`, [topic]);
    this.pendingTopics?.add(topic);
  }

  private emit(t: ChangeTopic | null): void {
    for (const l of this.listeners) l(t);
  }

  onChange(fn: (topic: ChangeTopic | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Looks for commits of other processes (workers, CLI) that changed cached state: PRAGMA data_version
   * moves when any other connection commits, and only then is the small `changes` table read. Cheap
   * enough to call before every cached read, so another process's rotation is seen on the next request.
   */
  poll(): void {
    if (this.txDone || !this.listeners.size) return;
    let v: number;
    try {
      v = this.dataVersionStmt.get() as number;
    } catch {
      return;
    }
    if (v === this.dataVersion) return;
    let rows: Array<{ topic: ChangeTopic; generation: number }>;
    try {
      rows = this.stmt('SELECT topic, generation FROM changes').all() as typeof rows;
    } catch {
      return; // before migrations: nothing is cached yet
    }
    // The first read is the baseline. After it, a topic seen for the first time is a change too (its
    // first generation may have been written by another process after the baseline).
    const baseline = this.dataVersion === -1;
    this.dataVersion = v;
    for (const r of rows) {
      if (this.generations.get(r.topic) !== r.generation) {
        this.generations.set(r.topic, r.generation);
        if (!baseline) this.emit(r.topic);
      }
    }
  }

  async tryWithLock<T>(lock: LockName, fn: () => Promise<T>): Promise<T | undefined> {
    // A lease row: workers of one host share the file but not a lock manager.
    const now = Date.now();
    const holder = `${process.pid}:${Math.random().toString(36).slice(2)}`;
    const got = await this.run(
      `INSERT INTO locks (name, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE locks.expires_at < ?`,
      [String(LOCKS[lock]), holder, now + LEASE_MS, now],
    );
    if (got.changes !== 1) return undefined;
    try {
      return await fn();
    } finally {
      await this.run(`DELETE FROM locks WHERE name = ? AND holder = ?`, [String(LOCKS[lock]), holder]).catch(() => {});
    }
  }

  async ping(): Promise<boolean> {
    try {
      return this.db.open && this.stmt('SELECT 1 AS ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.idle();
    if (this.db.open) this.db.close();
  }
}
