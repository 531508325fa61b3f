// Opening Warden's store: SQLite by default (a file in the data directory), PostgreSQL when a
// postgres:// URL is given (--database or WARDEN_DATABASE_URL). Every store module is built on the one
// engine, so secrets, keys, nonces, the audit trail, admin tokens and the collateral cache all live in
// the same database, and all replicas on one PostgreSQL share them.
import { AdminTokens } from './admin-tokens.ts';
import { AuditLog } from './audit.ts';
import { StoreCollateralCache } from './collateral-cache.ts';
import type { Engine } from './engine.ts';
import { StoreError } from './errors.ts';
import { migrate } from './migrations.ts';
import { NonceStore } from './nonces.ts';
import { PostgresEngine } from './postgres.ts';
import { SecretStore } from './secrets.ts';
import { ServerKeys } from './server-keys.ts';
import { SqliteEngine } from './sqlite.ts';

export const DATABASE_ENV = 'WARDEN_DATABASE_URL';

/** The database URL from a flag, else from WARDEN_DATABASE_URL; undefined means SQLite. */
export function databaseUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = flag ?? (env[DATABASE_ENV] || undefined);
  if (url === undefined) return undefined;
  if (!/^postgres(ql)?:\/\/\S*$/.test(url)) throw new StoreError('database_url_invalid', `--database/${DATABASE_ENV} must be a postgres:// URL`);
  return url;
}

/** The engine for a URL, or the SQLite file. Nothing is created or migrated yet. */
export function openEngine(opts: { url?: string | undefined; file: string }): Engine {
  return opts.url ? new PostgresEngine(opts.url) : new SqliteEngine(opts.file);
}

export interface Store {
  readonly engine: Engine;
  readonly audit: AuditLog;
  readonly tokens: AdminTokens;
  readonly collateral: StoreCollateralCache;
  /** The stores that need the master key. */
  secrets(masterKey: Buffer): SecretStore;
  keys(masterKey: Buffer): ServerKeys;
  nonces(masterKey: Buffer): NonceStore;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  url?: string | undefined;
  /** The SQLite file when there is no URL. */
  file: string;
  now?: () => Date;
}

/** Opens the database, brings its schema up to date (refusing a newer one) and builds the stores. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const engine = openEngine(opts);
  try {
    await migrate(engine);
  } catch (e) {
    await engine.close();
    throw e;
  }
  return storeOn(engine, opts.now);
}

/** The stores on an engine whose schema is current. */
export function storeOn(engine: Engine, now: () => Date = () => new Date()): Store {
  const audit = new AuditLog(engine, now);
  let secrets: SecretStore | undefined;
  let keys: ServerKeys | undefined;
  let nonces: NonceStore | undefined;
  return {
    engine,
    audit,
    tokens: new AdminTokens(engine, now),
    collateral: new StoreCollateralCache(engine),
    secrets: (mk) => (secrets ??= new SecretStore(engine, mk, { now, audit })),
    keys: (mk) => (keys ??= new ServerKeys(engine, mk, now, audit)),
    nonces: (mk) => (nonces ??= new NonceStore(engine, mk)),
    async close() {
      await audit.flushed();
      secrets?.close();
      keys?.close();
      await engine.close();
    },
  };
}

/** A SQLite store on a file (tests, tools): opened and migrated. */
export function openSqliteStore(file: string, now?: () => Date): Promise<Store> {
  return openStore({ file, ...(now ? { now } : {}) });
}
