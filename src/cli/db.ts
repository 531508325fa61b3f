// `warden db ...`: the database schema. `migrate` applies the versioned migrations a database lacks
// (SQLite file in the data directory, or PostgreSQL with --database / WARDEN_DATABASE_URL); `status`
// shows the version without changing anything. `warden serve` migrates on start too, under the same
// lock, and refuses a schema newer than itself.
import path from 'node:path';
import { StoreError } from '../store/errors.ts';
import { MIGRATIONS, migrate, schemaStatus } from '../store/migrations.ts';
import { databaseUrl, openEngine } from '../store/store.ts';
import { DEFAULT_DATA_DIR } from './context.ts';
import { UsageError, parseFlags, type Io } from './io.ts';

const USAGE = `usage:
  warden db migrate [--database URL | --data DIR]   apply the schema migrations the database lacks
  warden db status  [--database URL | --data DIR] [--json]
Without --database, WARDEN_DATABASE_URL is used, else SQLite in DIR/warden.db (default ./data).`;

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const { values: f, positionals } = parseFlags(rest, { data: { type: 'string' }, database: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (sub !== 'migrate' && sub !== 'status') throw new UsageError(`unknown sub-command '${sub}' (try 'warden db --help')`);
  let url: string | undefined;
  try {
    url = databaseUrl(f.database);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const engine = openEngine({ url, file: path.join(path.resolve(f.data ?? DEFAULT_DATA_DIR), 'warden.db') });
  try {
    if (sub === 'status') {
      const s = await schemaStatus(engine);
      if (f.json) io.out(JSON.stringify({ database: engine.location, ...s }));
      else io.out(`${engine.location}: schema version ${s.current}; this Warden's is ${s.latest}${s.current < s.latest ? ` (run 'warden db migrate')` : s.current > s.latest ? ' (NEWER than this Warden: upgrade it)' : ''}`);
      return s.current > s.latest ? 1 : 0;
    }
    const applied = await migrate(engine);
    for (const m of applied) io.out(`applied migration ${m.version}: ${m.name}`);
    io.out(`${engine.location}: schema at version ${MIGRATIONS[MIGRATIONS.length - 1]!.version}${applied.length ? '' : ' (nothing to do)'}`);
    return 0;
  } catch (e) {
    if (e instanceof StoreError) {
      io.err(`warden db ${sub}: ${e.message} [${e.code}]`);
      return 1;
    }
    throw e;
  } finally {
    await engine.close();
  }
}
