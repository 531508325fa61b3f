// The one interface every store module talks to: SQL with `?` placeholders, async, on SQLite
// (embedded default, better-sqlite3) or PostgreSQL (replicas, node-postgres). Store modules write
// portable SQL against it; what differs between the engines (DDL, locks, notifications) is here and in
// migrations.ts, nowhere else.

export type EngineKind = 'sqlite' | 'postgres';

export type SqlValue = string | number | bigint | Buffer | null;

export interface Queryable {
  /** All rows. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement without rows; `changes` is the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Statements without parameters (schema changes); several may be separated by semicolons. */
  exec(sql: string): Promise<void>;
  /** Inserts rows: one statement per row on SQLite, one statement for all rows on PostgreSQL (one round trip). */
  insertMany(table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[]): Promise<void>;
}

/** Whether an error is a primary-key or unique-constraint violation, on either engine. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** Named locks. Keys are small integers so both engines can use them (PostgreSQL advisory locks). */
export const LOCKS = {
  /** Serialises appends to the audit hash chain and the writes committed with them (secrets, keys). */
  audit: 0x57a0_0001,
  /** One schema migration at a time. */
  migrate: 0x57a0_0002,
  /** One collateral refresh at a time across replicas. */
  collateralRefresh: 0x57a0_0003,
} as const;

export type LockName = keyof typeof LOCKS;

export interface TxOptions {
  /**
   * Take this lock for the whole transaction. PostgreSQL: a transaction-scoped advisory lock, taken
   * first. SQLite: every write transaction already holds the database's one write lock (BEGIN
   * IMMEDIATE), which serialises across processes too.
   */
  lock?: LockName;
}

/** A change to cached state (server keys, secrets) that every process must see. */
export type ChangeTopic = 'keys' | 'secrets';

export interface Engine extends Queryable {
  readonly kind: EngineKind;
  /** Where it lives, without credentials: a file path, or host/port/database. */
  readonly location: string;
  /**
   * Runs `fn` in one write transaction: all of its statements commit together, or none. While it runs,
   * this process runs no other statement on the engine (SQLite) or runs them on other connections
   * (PostgreSQL); a transaction never sees another one half done.
   */
  tx<T>(fn: (q: Queryable) => Promise<T>, opts?: TxOptions): Promise<T>;
  /**
   * Runs `fn` only if this process gets `lock` right away (across processes and replicas); returns
   * undefined without running it otherwise. The lock is held until `fn` settles.
   */
  tryWithLock<T>(lock: LockName, fn: () => Promise<T>): Promise<T | undefined>;
  /** Tells other processes (workers, replicas) that cached state of a topic changed. Call within the writing transaction. */
  notify(q: Queryable, topic: ChangeTopic): Promise<void>;
  /**
   * Calls `fn` when another process may have changed a topic, within `boundMs`; `fn(null)` means "anything may have
   * changed" (after a lost connection). Returns a function that stops listening.
   */
  onChange(fn: (topic: ChangeTopic | null) => void): () => void;
  /** Looks for other processes' changes now if that is cheap (SQLite); PostgreSQL is told by notifications. */
  poll(): void;
  /** Whether the database answers now. Never throws. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
