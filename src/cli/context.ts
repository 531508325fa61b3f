// Shared opening of Warden's state for CLI commands (and `warden serve`): the data directory, the
// database, the master key (loaded only when something needs it) and the stores built on them.
import os from 'node:os';
import path from 'node:path';
import { loadMasterKey } from '../secrets/master-key.ts';
import type { AdminTokens } from '../store/admin-tokens.ts';
import type { AuditLog } from '../store/audit.ts';
import type { Engine } from '../store/engine.ts';
import { WardenError, exitStatusOf } from '../protocol/errors.ts';
import type { NonceStore } from '../store/nonces.ts';
import type { SecretStore } from '../store/secrets.ts';
import type { ServerKeys } from '../store/server-keys.ts';
import { databaseUrl, openStore, type Store } from '../store/store.ts';
import type { Io } from './io.ts';

/** parseFlags options every stateful command accepts. */
export const CONTEXT_OPTIONS = {
  data: { type: 'string' },
  database: { type: 'string' },
  'master-key-file': { type: 'string' },
  'master-key-env': { type: 'string' },
  dev: { type: 'boolean' },
  'allow-insecure-key-permissions': { type: 'boolean' },
} as const;

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

export const DEFAULT_DATA_DIR = './data';

export async function openContext(flags: ContextFlags, opts: { warn?: (msg: string) => void } = {}): Promise<Context> {
  const dataDir = path.resolve(flags.data ?? DEFAULT_DATA_DIR);
  const dbFile = path.join(dataDir, 'warden.db');
  const store = await openStore({ url: databaseUrl(flags.database), file: dbFile });
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
  let masterKey: Buffer | undefined;
  const getMasterKey = (): Buffer =>
    (masterKey ??= loadMasterKey({
      ...(flags['master-key-file'] ? { file: flags['master-key-file'] } : {}),
      ...(flags['master-key-env'] ? { env: flags['master-key-env'] } : {}),
      dev: flags.dev === true,
      dataDir,
      warn,
      allowInsecurePermissions: flags['allow-insecure-key-permissions'] === true,
    }));
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

/** Runs a command body with an open context; coded errors become one line and the table's exit status. */
export async function withContext(
  command: string,
  flags: ContextFlags,
  io: Io,
  body: (ctx: Context) => Promise<number> | number,
): Promise<number> {
  let ctx: Context | undefined;
  try {
    ctx = await openContext(flags, { warn: io.err });
    return await body(ctx);
  } catch (e) {
    if (e instanceof WardenError) {
      io.err(`warden ${command}: ${e.message} [${e.code}]`);
      return exitStatusOf(e.code);
    }
    throw e;
  } finally {
    await ctx?.close();
  }
}
