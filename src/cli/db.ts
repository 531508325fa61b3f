// `warden db ...`: the database schema. `migrate` applies the versioned migrations a database lacks
// (SQLite file in the data directory, or PostgreSQL with --database / WARDEN_DATABASE_URL); `status`
// shows the version without changing anything. `warden serve` migrates on start too, under the same
// lock, and refuses a schema newer than itself.
import path from 'node:path';
import { MIGRATIONS, migrate, schemaStatus } from '../store/migrations.ts';
import { databaseUrl, openEngine } from '../store/store.ts';
import { DATABASE_FLAG, DATA_FLAG, dataDirOf, requireDatabase } from './context.ts';
import { JSON_FLAG, UsageError, parseFlags, renderGroupHelp, renderHelp, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';

const COMMON = { ...DATA_FLAG, ...DATABASE_FLAG, ...JSON_FLAG } as const satisfies FlagSpecs;

const SUBS = {
  migrate: {
    synopsis: 'db migrate [--database URL | --data DIR] [--json]',
    summary: 'apply the schema migrations the database lacks (creates the SQLite file if missing)',
    flags: COMMON,
  },
  status: {
    synopsis: 'db status [--database URL | --data DIR] [--json]',
    summary: "the database's schema version and this Warden's (exit 1 if the database is newer); changes nothing",
    flags: COMMON,
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(p: string[]): string {
  const sub = p[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp(
    'db',
    'The database schema. Without --database, WARDEN_DATABASE_URL is used, else SQLite in DIR/warden.db. `warden serve` migrates on start too.',
    SUBS,
  );
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help([]));
    return 2;
  }
  if (!isSub(sub)) throw unknownSubcommand('db', sub, Object.keys(SUBS));
  const { values: f } = parseFlags(rest, SUBS[sub].flags);
  let url: string | undefined;
  try {
    url = databaseUrl(f.database);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const file = path.join(dataDirOf(f.data), 'warden.db');
  // status is read-only: it never creates the SQLite file it reports on.
  if (sub === 'status' && url === undefined) requireDatabase(path.dirname(file));
  const engine = openEngine({ url, file });
  try {
    if (sub === 'status') {
      const s = await schemaStatus(engine);
      if (f.json) io.out(JSON.stringify({ ok: s.current <= s.latest, database: engine.location, ...s }));
      else io.out(`${engine.location}: schema version ${s.current}; this Warden's is ${s.latest}${s.current < s.latest ? ` (run 'warden db migrate')` : s.current > s.latest ? ' (NEWER than this Warden: upgrade it)' : ''}`);
      return s.current > s.latest ? 1 : 0;
    }
    const applied = await migrate(engine);
    const version = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (f.json) io.out(JSON.stringify({ ok: true, database: engine.location, version, applied: applied.map((m) => ({ version: m.version, name: m.name })) }));
    else {
      for (const m of applied) io.out(`applied migration ${m.version}: ${m.name}`);
      io.out(`${engine.location}: schema at version ${version}${applied.length ? '' : ' (nothing to do)'}`);
    }
    return 0;
  } finally {
    await engine.close();
  }
}
