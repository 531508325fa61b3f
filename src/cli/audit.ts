// `warden audit ...`: verify the hash chain of the audit trail, list entries.
import { UsageError, parseFlags, type Io } from './io.ts';
import { CONTEXT_OPTIONS, withContext } from './context.ts';

const USAGE = `usage:
  warden audit verify [--json]
  warden audit list [--limit N] [--after ID] [--type T] [--json]
common: [--data DIR | --database URL]`;

const OPTIONS = {
  ...CONTEXT_OPTIONS,
  json: { type: 'boolean' },
  limit: { type: 'string' },
  after: { type: 'string' },
  type: { type: 'string' },
} as const;

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(v)) throw new UsageError(`--${flag} must be a non-negative integer`);
  return Number(v);
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const { values: f } = parseFlags(rest, OPTIONS, false);
  return withContext('audit', f, io, async (ctx) => {
    switch (sub) {
      case 'verify': {
        const r = await ctx.audit.verify();
        if (f.json) io.out(JSON.stringify(r));
        else if (r.ok) io.out(`audit trail intact: ${r.count} entries`);
        else io.out(`audit trail ALTERED: first bad entry ${r.firstBadId}: ${r.reason}`);
        return r.ok ? 0 : 1;
      }
      case 'list': {
        const limit = int(f.limit, 'limit');
        const afterId = int(f.after, 'after');
        const entries = await ctx.audit.list({ ...(limit !== undefined ? { limit } : {}), ...(afterId !== undefined ? { afterId } : {}), ...(f.type ? { type: f.type } : {}) });
        if (f.json) io.out(JSON.stringify(entries, null, 2));
        else for (const e of entries) io.out(`${e.id}\t${e.ts}\t${e.type}\t${e.outcome ?? ''}\t${e.actor ?? ''}\t${JSON.stringify(e.data)}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown sub-command '${sub}' (try 'warden audit --help')`);
    }
  });
}
