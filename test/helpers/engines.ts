// Store tests run against both engines: `bothEngines('name', async (h) => …)` registers one test per
// engine. The PostgreSQL one runs on a private cluster started once per test file (helpers/postgres.ts),
// each test in its own database; it skips with the reason when PostgreSQL is not installed (never on CI).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Engine, EngineKind } from '../../src/store/engine.ts';
import { migrate } from '../../src/store/migrations.ts';
import { PostgresEngine } from '../../src/store/postgres.ts';
import { SqliteEngine } from '../../src/store/sqlite.ts';
import { storeOn, type Store } from '../../src/store/store.ts';
import { pgSkipReason, startPgCluster, type PgCluster } from './postgres.ts';

let cluster: Promise<PgCluster> | null = null;
let tmp: string | null = null;

/** The cluster shared by this test file's PostgreSQL tests. */
let cleanupRegistered = false;

/** Registers the file-level clean-up; must run at the top level of a test file (not inside a test). */
function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  after(async () => {
    if (cluster) (await cluster.catch(() => null))?.destroy();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });
}

/** The cluster shared by this test file's PostgreSQL tests. */
export function sharedCluster(): Promise<PgCluster> {
  return (cluster ??= startPgCluster());
}

function tmpDir(): string {
  return (tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'warden-engines-')));
}

let files = 0;

export interface EngineHarness {
  kind: EngineKind;
  /** A new, migrated, empty database. */
  engine(): Promise<Engine>;
  /** A second connection (process-like) to the same database as `of`. */
  reopen(of: Engine): Promise<Engine>;
  /** The stores on a new, migrated, empty database. */
  store(now?: () => Date): Promise<Store>;
  /** A URL (postgres) or file (sqlite) of a new, migrated, empty database, for child processes. */
  location(): Promise<{ url?: string; file: string }>;
}

function harness(kind: EngineKind, opened: Engine[]): EngineHarness {
  const where = new Map<Engine, { url?: string; file: string }>();
  const open = (loc: { url?: string; file: string }): Engine => {
    const e = loc.url ? new PostgresEngine(loc.url) : new SqliteEngine(loc.file);
    opened.push(e);
    where.set(e, loc);
    return e;
  };
  const location = async (): Promise<{ url?: string; file: string }> => {
    const file = path.join(tmpDir(), `db${++files}.db`);
    if (kind === 'sqlite') return { file };
    return { url: await (await sharedCluster()).createDatabase(), file };
  };
  const h: EngineHarness = {
    kind,
    async engine() {
      const e = open(await location());
      await migrate(e);
      return e;
    },
    async reopen(of) {
      return open(where.get(of)!);
    },
    async store(now) {
      return storeOn(await h.engine(), now);
    },
    async location() {
      const loc = await location();
      const e: Engine = loc.url ? new PostgresEngine(loc.url) : new SqliteEngine(loc.file);
      await migrate(e);
      await e.close();
      return loc;
    },
  };
  return h;
}

/** Registers `name [sqlite]` and `name [postgres]`. */
export function bothEngines(name: string, fn: (h: EngineHarness) => Promise<void>, opts: { timeout?: number } = {}): void {
  registerCleanup();
  for (const kind of ['sqlite', 'postgres'] as const) {
    const skip = kind === 'postgres' ? pgSkipReason() : null;
    test(`${name} [${kind}]`, { ...(skip ? { skip } : {}), timeout: opts.timeout ?? 120_000 }, async () => {
      const opened: Engine[] = [];
      try {
        await fn(harness(kind, opened));
      } finally {
        for (const e of opened) await e.close().catch(() => {});
      }
    });
  }
}

/** A migrated SQLite engine on a file (default: in memory), for tests of one engine. */
export async function sqliteEngine(file = ':memory:'): Promise<Engine> {
  const e = new SqliteEngine(file);
  await migrate(e);
  return e;
}
