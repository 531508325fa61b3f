// The collateral cache: one row per item (kind + key), in SQLite. Every write is one transaction,
// so a process killed mid-write leaves the cache as it was before that write.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isItemKind, type CollateralItem, type ItemId, type ItemKind } from './item.ts';

type Db = Database.Database;

interface Row {
  kind: string;
  key: string;
  raw: Buffer;
  issuer_chain: string;
  source: string;
  fetched_at: number;
  issue_date: number;
  next_update: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS collateral_cache (
  kind TEXT NOT NULL CHECK (kind IN ('tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl')),
  key TEXT NOT NULL,
  raw BLOB NOT NULL,
  issuer_chain TEXT NOT NULL,
  source TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  issue_date INTEGER NOT NULL,
  next_update INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
)`;

export class CollateralCache {
  readonly db: Db;
  private readonly ownsDb: boolean;
  private readonly stmts: {
    get: Database.Statement<[string, string], Row>;
    list: Database.Statement<[], Row>;
    put: Database.Statement<[Row]>;
    del: Database.Statement<[string, string]>;
    count: Database.Statement<[string], { n: number }>;
  };

  /** Opens (creating if needed) the cache in a database file, or in an already open database. */
  constructor(dbOrPath: Db | string) {
    if (typeof dbOrPath === 'string') {
      if (dbOrPath !== ':memory:') mkdirSync(dirname(dbOrPath), { recursive: true });
      this.db = new Database(dbOrPath);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.ownsDb = true;
    } else {
      this.db = dbOrPath;
      this.ownsDb = false;
    }
    this.db.exec(SCHEMA);
    this.stmts = {
      get: this.db.prepare('SELECT * FROM collateral_cache WHERE kind = ? AND key = ?'),
      list: this.db.prepare('SELECT * FROM collateral_cache ORDER BY kind, key'),
      // An older item (by issue date) never replaces a newer one: a lagging source cannot roll back.
      put: this.db.prepare(`INSERT INTO collateral_cache (kind, key, raw, issuer_chain, source, fetched_at, issue_date, next_update)
        VALUES (@kind, @key, @raw, @issuer_chain, @source, @fetched_at, @issue_date, @next_update)
        ON CONFLICT (kind, key) DO UPDATE SET raw = excluded.raw, issuer_chain = excluded.issuer_chain, source = excluded.source,
          fetched_at = excluded.fetched_at, issue_date = excluded.issue_date, next_update = excluded.next_update
        WHERE excluded.issue_date >= collateral_cache.issue_date`),
      del: this.db.prepare('DELETE FROM collateral_cache WHERE kind = ? AND key = ?'),
      count: this.db.prepare('SELECT COUNT(*) AS n FROM collateral_cache WHERE kind = ?'),
    };
  }

  get(id: ItemId): CollateralItem | undefined {
    const row = this.stmts.get.get(id.kind, id.key);
    return row ? fromRow(row) : undefined;
  }

  /** How many rows of one kind are stored. */
  count(kind: ItemKind): number {
    return this.stmts.count.get(kind)?.n ?? 0;
  }

  list(): CollateralItem[] {
    return this.stmts.list.all().map(fromRow);
  }

  /** Stores an item (validated by the caller). Returns false when a newer one was kept. */
  put(item: CollateralItem): boolean {
    return this.stmts.put.run(toRow(item)).changes > 0;
  }

  /** Stores several items atomically: all or none. */
  putAll(items: CollateralItem[]): number {
    return this.db.transaction((all: CollateralItem[]) => all.reduce((n, it) => n + (this.put(it) ? 1 : 0), 0))(items);
  }

  delete(id: ItemId): void {
    this.stmts.del.run(id.kind, id.key);
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}

function toRow(it: CollateralItem): Row {
  return {
    kind: it.kind,
    key: it.key,
    raw: it.raw,
    issuer_chain: it.issuerChain,
    source: it.source,
    fetched_at: it.fetchedAt.getTime(),
    issue_date: it.issueDate.getTime(),
    next_update: it.nextUpdate.getTime(),
  };
}

function fromRow(r: Row): CollateralItem {
  if (!isItemKind(r.kind)) throw new Error(`collateral cache holds an unknown kind '${r.kind}'`);
  return {
    kind: r.kind as ItemKind,
    key: r.key,
    raw: Buffer.from(r.raw),
    issuerChain: r.issuer_chain,
    source: r.source,
    fetchedAt: new Date(r.fetched_at),
    issueDate: new Date(r.issue_date),
    nextUpdate: new Date(r.next_update),
  };
}
