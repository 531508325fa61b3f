// The PostgreSQL engine (node-postgres): a connection pool for statements and transactions, advisory
// locks for what must happen once across replicas, LISTEN/NOTIFY for cache invalidation, and a
// connection error turned into `store_unavailable` (HTTP 503) instead of a crash. The pool reconnects
// by itself, so the server recovers when the database comes back.
import pg from 'pg';
import type { ChangeTopic, Engine, LockName, Queryable, SqlValue, TxOptions } from './engine.ts';
import { LOCKS } from './engine.ts';
import { StoreError } from './errors.ts';

const CHANNEL = 'warden_changes';
/** Other replicas see a change within this long even if a notification is lost. */
export const CHANGE_POLL_MS = 1000;

// int8 (COUNT, BIGINT columns) as numbers: every value we store is far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/** `?` placeholders to `$1, $2, …` (our SQL never has a `?` inside a literal). */
function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** Errors that mean the database cannot be reached or is shutting down, not that a statement is wrong. */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : '';
  if (/^(08|57P|53)/.test(code)) return true; // connection exception, operator intervention, insufficient resources
  if (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOENT|EAI_AGAIN)$/.test(code)) return true;
  const msg = typeof err?.message === 'string' ? err.message : '';
  return /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|not queryable|Connection ended/i.test(msg);
}

function mapError(e: unknown): never {
  if (e instanceof StoreError) throw e;
  if (isConnectionError(e)) throw new StoreError('store_unavailable', 'database unavailable');
  throw e;
}

/** host:port/database of a URL, never its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `postgresql://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${host}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'postgresql://(unparseable URL)';
  }
}

function queryable(run: (sql: string, params: readonly SqlValue[]) => Promise<pg.QueryResult>): Queryable {
  return {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await run(numbered(sql), params)).rows as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) => (await run(numbered(sql), params)).rows[0] as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: (await run(numbered(sql), params)).rowCount ?? 0 }),
    exec: async (sql: string) => void (await run(sql, [])),
    insertMany: async (table, columns, rows) => {
      // One statement per 500 rows: one round trip for a whole audit group.
      for (let at = 0; at < rows.length; at += 500) {
        const chunk = rows.slice(at, at + 500);
        let n = 0;
        const values = chunk.map((r) => `(${r.map(() => `$${++n}`).join(', ')})`).join(', ');
        await run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, chunk.flat());
      }
    },
  };
}

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  max?: number;
}

export class PostgresEngine implements Engine {
  readonly kind = 'postgres' as const;
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly q: Queryable;
  private readonly listeners = new Set<(t: ChangeTopic | null) => void>();
  private listener: pg.Client | null = null;
  private listenTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private generations = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly url: string,
    opts: PostgresOptions = {},
  ) {
    this.location = describeUrl(url);
    this.pool = new pg.Pool({ connectionString: url, types, max: opts.max ?? 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
    // An idle connection that breaks (server restart) is dropped by the pool; without this handler the
    // 'error' event would crash the process.
    this.pool.on('error', () => {});
    this.q = queryable(async (sql, params) => {
      try {
        return await this.pool.query(sql, params as unknown[]);
      } catch (e) {
        mapError(e);
      }
    });
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.q.all<T>(sql, params);
  }
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.q.get<T>(sql, params);
  }
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.q.run(sql, params);
  }
  exec(sql: string): Promise<void> {
    return this.q.exec(sql);
  }
  insertMany(table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[]): Promise<void> {
    return this.q.insertMany(table, columns, rows);
  }

  private async client(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      mapError(e);
    }
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    const c = await this.client();
    let broken: unknown;
    const q = queryable(async (sql, params) => {
      try {
        return await c.query(sql, params as unknown[]);
      } catch (e) {
        if (isConnectionError(e)) broken = e;
        mapError(e);
      }
    });
    const topics = new Set<ChangeTopic>();
    this.pending.set(q, topics);
    try {
      await q.exec('BEGIN');
      if (opts.lock) await q.run('SELECT pg_advisory_xact_lock(?)', [LOCKS[opts.lock]]);
      let result: T;
      try {
        result = await fn(q);
        await q.exec('COMMIT');
      } catch (e) {
        if (!broken) await c.query('ROLLBACK').catch((r: unknown) => (broken = r));
        throw e;
      }
      for (const t of topics) this.emit(t);
      return result;
    } finally {
      this.pending.delete(q);
      // A connection that failed mid-transaction is not given back to the pool.
      c.release(broken ? (broken as Error) : undefined);
    }
  }

  private readonly pending = new Map<Queryable, Set<ChangeTopic>>();

  async tryWithLock<T>(lock: LockName, fn: () => Promise<T>): Promise<T | undefined> {
    // A session lock on a connection held for the whole run: it ends with the connection if we die.
    const c = await this.client();
    let broken: unknown;
    try {
      const r = await c.query('SELECT pg_try_advisory_lock($1) AS got', [LOCKS[lock]]);
      if (!r.rows[0]?.got) return undefined;
      try {
        return await fn();
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [LOCKS[lock]]).catch((e: unknown) => (broken = e));
      }
    } catch (e) {
      if (isConnectionError(e)) broken = e;
      mapError(e);
    } finally {
      c.release(broken ? (broken as Error) : undefined);
    }
  }

  async notify(q: Queryable, topic: ChangeTopic): Promise<void> {
    await q.run(`INSERT INTO changes (topic, generation) VALUES (?, 1) ON CONFLICT (topic) DO UPDATE SET generation = changes.generation + 1`, [topic]);
    // Delivered to every listening replica when (and only if) the transaction commits.
    await q.run(`SELECT pg_notify(?, ?)`, [CHANNEL, topic]);
    this.pending.get(q)?.add(topic);
  }

  private emit(t: ChangeTopic | null): void {
    for (const l of this.listeners) l(t);
  }

  onChange(fn: (topic: ChangeTopic | null) => void): () => void {
    this.listeners.add(fn);
    if (this.listeners.size === 1) this.startListening();
    return () => {
      this.listeners.delete(fn);
      if (!this.listeners.size) this.stopListening();
    };
  }

  poll(): void {
    // Notifications and the periodic re-read below do this job.
  }

  private startListening(): void {
    if (this.closed) return;
    void this.connectListener();
    // The safety net: a lost notification (listener reconnecting) is caught by re-reading generations.
    this.pollTimer = setInterval(() => void this.pollGenerations(), CHANGE_POLL_MS);
    this.pollTimer.unref();
  }

  private stopListening(): void {
    clearInterval(this.pollTimer);
    clearTimeout(this.listenTimer);
    this.pollTimer = undefined;
    const l = this.listener;
    this.listener = null;
    l?.removeAllListeners('end');
    l?.end().catch(() => {});
  }

  private async pollGenerations(): Promise<void> {
    let rows: Array<{ topic: ChangeTopic; generation: number }>;
    try {
      rows = (await this.pool.query('SELECT topic, generation FROM changes')).rows as typeof rows;
    } catch {
      return;
    }
    for (const r of rows) {
      const known = this.generations.get(r.topic);
      this.generations.set(r.topic, r.generation);
      if (known !== undefined && known !== r.generation) this.emit(r.topic);
    }
  }

  private async connectListener(): Promise<void> {
    if (this.closed || !this.listeners.size) return;
    const c = new pg.Client({ connectionString: this.url, types });
    const retry = () => {
      if (this.listener === c) this.listener = null;
      c.removeAllListeners('end');
      c.end().catch(() => {});
      // While we could not listen, anything may have changed.
      this.emit(null);
      if (!this.closed && this.listeners.size) {
        this.listenTimer = setTimeout(() => void this.connectListener(), 500);
        this.listenTimer.unref();
      }
    };
    c.on('error', () => {});
    c.on('end', retry);
    c.on('notification', (m) => {
      if (m.channel === CHANNEL && (m.payload === 'keys' || m.payload === 'secrets')) this.emit(m.payload);
    });
    // Known at once, so that stopListening() ends it even while it is still connecting.
    this.listener = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      if (this.listener !== c) {
        // Stopped (or closed) while connecting: this connection must not keep the process alive.
        c.removeAllListeners('end');
        await c.end().catch(() => {});
        return;
      }
      // The connection may have been lost while nobody listened: start from a clean cache.
      this.emit(null);
    } catch {
      if (this.listener === c) retry();
      else c.end().catch(() => {});
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stopListening();
    await this.pool.end().catch(() => {});
  }
}
