// Shared opening of Warden's state for CLI commands (and `warden serve`): the data directory, the
// database, the master key (loaded only when something needs it) and the stores built on them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadMasterKey } from '../secrets/master-key.ts';
import type { AdminTokens } from '../store/admin-tokens.ts';
import type { AuditLog } from '../store/audit.ts';
import type { Engine } from '../store/engine.ts';
import { WardenError } from '../protocol/errors.ts';
import type { NonceStore } from '../store/nonces.ts';
import type { SecretStore } from '../store/secrets.ts';
import type { ServerKeys } from '../store/server-keys.ts';
import { databaseUrl, DATABASE_ENV, openStore, type Store } from '../store/store.ts';
import { CliError, type FlagSpecs, type Io } from './io.ts';
import { dataDirOf } from './paths.ts';

/** The flags every stateful command accepts. */
export const DATA_FLAG = {
  data: { type: 'string', arg: 'DIR', help: 'data directory (database warden.db); default $WARDEN_DATA, else ./data' },
} as const satisfies FlagSpecs;

export const DATABASE_FLAG = {
  database: { type: 'string', arg: 'URL', help: `a PostgreSQL database (postgres://...) instead of SQLite in the data directory; default $${DATABASE_ENV}` },
} as const satisfies FlagSpecs;

export const CONTEXT_OPTIONS = {
  ...DATA_FLAG,
  ...DATABASE_FLAG,
  'master-key-file': { type: 'string', arg: 'FILE', help: 'the master key (32 bytes as 64 hex characters or base64)' },
  'master-key-env': { type: 'string', arg: 'VAR', help: 'read the master key from this environment variable' },
  dev: { type: 'boolean', help: "development data: use the master key `serve --dev` made in DIR/master.key" },
  'allow-insecure-key-permissions': { type: 'boolean', help: 'use a master key file that other users can read (refused by default)' },
} as const satisfies FlagSpecs;

export interface ContextFlags {
  data?: string | undefined;
  /** postgres://… (else WARDEN_DATABASE_URL, else SQLite in the data directory). */
  database?: string | undefined;
  'master-key-file'?: string | undefined;
  'master-key-env'?: string | undefined;
  dev?: boolean | undefined;
  'allow-insecure-key-permissions'?: boolean | undefined;
}

export interface Context {
  readonly dataDir: string;
  /** The SQLite file (used when no database URL is given). */
  readonly dbFile: string;
  readonly store: Store;
  readonly engine: Engine;
  /** Loaded on first access: commands that never touch secrets or keys do not need it. */
  readonly masterKey: Buffer;
  readonly secrets: SecretStore;
  readonly keys: ServerKeys;
  readonly nonces: NonceStore;
  readonly audit: AuditLog;
  readonly tokens: AdminTokens;
  close(): Promise<void>;
}

export { DEFAULT_DATA_DIR, dataDirOf } from './paths.ts';

export interface OpenOptions {
  warn?: (msg: string) => void;
  /**
   * Only commands that set Warden up (serve, secret create, admin token create, collateral fetch/import)
   * may create a database or a development master key; every other command needs an existing one and
   * says which directory it looked in.
   */
  create?: boolean;
  /**
   * The command cannot run without the master key: a missing or unreadable key given by file or
   * environment is an error before any database is opened (or created).
   */
  needsMasterKey?: boolean;
}

/** Throws a CliError naming the directory when it holds no database (and `create` is not allowed). */
export function requireDatabase(dataDir: string): string {
  const dbFile = path.join(dataDir, 'warden.db');
  if (!fs.existsSync(dbFile)) {
    throw new CliError(
      'no_database',
      `no Warden database in ${dataDir}${fs.existsSync(dataDir) ? '' : ' (no such directory)'}: give --data DIR or set WARDEN_DATA to the server's data directory`,
    );
  }
  return dbFile;
}

export async function openContext(flags: ContextFlags, opts: OpenOptions = {}): Promise<Context> {
  const dataDir = dataDirOf(flags.data);
  const dbFile = path.join(dataDir, 'warden.db');
  const url = databaseUrl(flags.database);
  // A PostgreSQL database is made by its operator; only the embedded SQLite file could appear by mistake.
  if (opts.create === false && url === undefined) requireDatabase(dataDir);
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
  let masterKey: Buffer | undefined;
  const getMasterKey = (): Buffer =>
    (masterKey ??= loadMasterKey({
      ...(flags['master-key-file'] ? { file: flags['master-key-file'] } : {}),
      ...(flags['master-key-env'] ? { env: flags['master-key-env'] } : {}),
      dev: flags.dev === true,
      // A development key is generated only where a database may be created too.
      createDevKey: opts.create !== false,
      dataDir,
      warn,
      allowInsecurePermissions: flags['allow-insecure-key-permissions'] === true,
    }));
  // (A --dev key lives in the data directory and is made with it, so it is left to the first use.)
  if (opts.needsMasterKey && !flags.dev) getMasterKey();
  const store = await openStore({ url, file: dbFile });
  return {
    dataDir,
    dbFile,
    store,
    engine: store.engine,
    get masterKey() {
      return getMasterKey();
    },
    get secrets() {
      return store.secrets(getMasterKey());
    },
    get keys() {
      return store.keys(getMasterKey());
    },
    get nonces() {
      return store.nonces(getMasterKey());
    },
    audit: store.audit,
    tokens: store.tokens,
    close: () => store.close(),
  };
}

/** Who a CLI action is recorded as in the audit trail. */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return `cli:${user}`;
}

/**
 * A wrong master key, said so that the operator can tell which key is which: both fingerprints, and
 * the usual cause (a data directory made by `serve --dev` opened with a production key, or the reverse).
 */
function explainMismatch(e: WardenError, dataDir: string, flags: ContextFlags): CliError {
  const devKey = path.join(dataDir, 'master.key');
  const hint =
    !flags.dev && fs.existsSync(devKey)
      ? `; ${dataDir} was made by \`warden serve --dev\` with the key in ${devKey}: pass --dev, or use another --data DIR for production`
      : flags.dev
        ? '; give the key this database was made with (--master-key-file FILE) instead of --dev'
        : '';
  return new CliError('master_key_mismatch', `${e.message} in ${dataDir}${hint}`);
}

/** Runs a command body with an open context; coded errors reach main, which prints one line and the table's exit status. */
export async function withContext(
  command: string,
  flags: ContextFlags,
  io: Io,
  body: (ctx: Context) => Promise<number> | number,
  opts: Omit<OpenOptions, 'warn'> = {},
): Promise<number> {
  let ctx: Context | undefined;
  try {
    ctx = await openContext(flags, { warn: io.err, ...opts });
    return await body(ctx);
  } catch (e) {
    if (e instanceof WardenError && e.code === 'master_key_mismatch') throw explainMismatch(e, dataDirOf(flags.data), flags);
    throw e;
  } finally {
    await ctx?.close();
  }
}
