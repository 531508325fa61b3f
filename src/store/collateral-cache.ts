// The collateral cache in Warden's store: one row per item, shared by every worker and replica. Every
// write is one statement or one transaction, so a process killed mid-write leaves the cache as it was.
// Reads are not memoised here: the provider owns that (one read per item per reuse window).
import type { CollateralCache } from '../collateral/cache.ts';
import { isItemKind, type CollateralItem, type ItemId, type ItemKind } from '../collateral/item.ts';
import type { Engine, Queryable } from './engine.ts';
import { migrate } from './migrations.ts';
import { SqliteEngine } from './sqlite.ts';

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


// An older item (by issue date) never replaces a newer one: a lagging source cannot roll back.
const PUT = `INSERT INTO collateral_cache (kind, key, raw, issuer_chain, source, fetched_at, issue_date, next_update)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (kind, key) DO UPDATE SET raw = excluded.raw, issuer_chain = excluded.issuer_chain, source = excluded.source,
    fetched_at = excluded.fetched_at, issue_date = excluded.issue_date, next_update = excluded.next_update
  WHERE excluded.issue_date >= collateral_cache.issue_date`;

export class StoreCollateralCache implements CollateralCache {
  private owned = false;

  constructor(readonly engine: Engine) {}

  /** A cache on its own SQLite file (tools and tests); close() closes the file. */
  static async open(file: string): Promise<StoreCollateralCache> {
    const engine = new SqliteEngine(file);
    await migrate(engine);
    const c = new StoreCollateralCache(engine);
    c.owned = true;
    return c;
  }

  async close(): Promise<void> {
    if (this.owned) await this.engine.close();
  }


  async get(id: ItemId): Promise<CollateralItem | undefined> {
    const row = await this.engine.get<Row>('SELECT * FROM collateral_cache WHERE kind = ? AND key = ?', [id.kind, id.key]);
    return row ? fromRow(row) : undefined;
  }

  async count(kind: ItemKind): Promise<number> {
    return Number((await this.engine.get<{ n: number }>('SELECT COUNT(*) AS n FROM collateral_cache WHERE kind = ?', [kind]))?.n ?? 0);
  }

  async list(): Promise<CollateralItem[]> {
    return (await this.engine.all<Row>('SELECT * FROM collateral_cache ORDER BY kind, key')).map(fromRow);
  }

  private async putIn(q: Queryable, item: CollateralItem): Promise<boolean> {
    const r = toRow(item);
    return (await q.run(PUT, [r.kind, r.key, r.raw, r.issuer_chain, r.source, r.fetched_at, r.issue_date, r.next_update])).changes > 0;
  }

  put(item: CollateralItem): Promise<boolean> {
    return this.putIn(this.engine, item);
  }

  async putAll(items: CollateralItem[]): Promise<boolean[]> {
    return this.engine.tx(async (q) => {
      const out: boolean[] = [];
      for (const it of items) out.push(await this.putIn(q, it));
      return out;
    });
  }

  async delete(id: ItemId): Promise<void> {
    await this.engine.run('DELETE FROM collateral_cache WHERE kind = ? AND key = ?', [id.kind, id.key]);
  }

  exclusiveRefresh<T>(fn: () => Promise<T>): Promise<T | undefined> {
    return this.engine.tryWithLock('collateralRefresh', fn);
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
    fetchedAt: new Date(Number(r.fetched_at)),
    issueDate: new Date(Number(r.issue_date)),
    nextUpdate: new Date(Number(r.next_update)),
  };
}
