// Shared opening of Warden's state for CLI commands (and `warden serve`): the data directory, the
// database, the master key (loaded only when something needs it) and the stores built on them.
import os from 'node:os';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { openDatabase } from '../store/db.ts';
import { loadMasterKey } from '../secrets/master-key.ts';
import { SecretStore } from '../store/secrets.ts';
import { NonceStore } from '../store/nonces.ts';
import { AuditLog } from '../store/audit.ts';
import { AdminTokens } from '../store/admin-tokens.ts';
import { ServerKeys } from '../store/server-keys.ts';
import { WardenError, exitStatusOf } from '../protocol/errors.ts';
import type { Io } from './io.ts';

/** parseFlags options every stateful command accepts. */
export const CONTEXT_OPTIONS = {
  data: { type: 'string' },
  'master-key-file': { type: 'string' },
  'master-key-env': { type: 'string' },
  dev: { type: 'boolean' },
} as const;

export interface ContextFlags {
  data?: string | undefined;
  'master-key-file'?: string | undefined;
  'master-key-env'?: string | undefined;
  dev?: boolean | undefined;
}

export interface Context {
  readonly dataDir: string;
  readonly dbFile: string;
  readonly db: Database;
  /** Loaded on first access: commands that never touch secrets or keys do not need it. */
  readonly masterKey: Buffer;
  readonly secrets: SecretStore;
  readonly keys: ServerKeys;
  readonly nonces: NonceStore;
  readonly audit: AuditLog;
  readonly tokens: AdminTokens;
  close(): void;
}

export const DEFAULT_DATA_DIR = './data';

export function openContext(flags: ContextFlags, opts: { warn?: (msg: string) => void } = {}): Context {
  const dataDir = path.resolve(flags.data ?? DEFAULT_DATA_DIR);
  const dbFile = path.join(dataDir, 'warden.db');
  const db = openDatabase(dbFile);
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
  let masterKey: Buffer | undefined;
  let secrets: SecretStore | undefined;
  let keys: ServerKeys | undefined;
  const nonces = new NonceStore(db);
  const audit = new AuditLog(db);
  const tokens = new AdminTokens(db);
  const getMasterKey = (): Buffer =>
    (masterKey ??= loadMasterKey({
      ...(flags['master-key-file'] ? { file: flags['master-key-file'] } : {}),
      ...(flags['master-key-env'] ? { env: flags['master-key-env'] } : {}),
      dev: flags.dev === true,
      dataDir,
      warn,
    }));
  return {
    dataDir,
    dbFile,
    db,
    get masterKey() {
      return getMasterKey();
    },
    get secrets() {
      return (secrets ??= new SecretStore(db, getMasterKey()));
    },
    get keys() {
      return (keys ??= new ServerKeys(db, getMasterKey()));
    },
    nonces,
    audit,
    tokens,
    close() {
      if (db.open) db.close();
    },
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
  const ctx = openContext(flags, { warn: io.err });
  try {
    return await body(ctx);
  } catch (e) {
    if (e instanceof WardenError) {
      io.err(`warden ${command}: ${e.message} [${e.code}]`);
      return exitStatusOf(e.code);
    }
    throw e;
  } finally {
    ctx.close();
  }
}
