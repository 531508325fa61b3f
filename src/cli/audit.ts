// `warden audit ...`: verify the hash chain of the audit trail (and archived segments), list entries,
// archive old ones.
import path from 'node:path';
import fs from 'node:fs';
import { archiveAudit, verifyArchives } from '../store/audit-archive.ts';
import { UsageError, parseFlags, requireFlag, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, withContext } from './context.ts';

const USAGE = `usage:
  warden audit verify [--archive FILE]... [--json]
  warden audit list [--limit N] [--after ID] [--type T] [--json]
  warden audit archive --before DATE --out FILE   (needs the master key: the segment is signed with the token key)
common: [--data DIR | --database URL] [--master-key-file F | --master-key-env VAR]`;

const OPTIONS = {
  ...CONTEXT_OPTIONS,
  json: { type: 'boolean' },
  limit: { type: 'string' },
  after: { type: 'string' },
  type: { type: 'string' },
  archive: { type: 'string', multiple: true },
  before: { type: 'string' },
  out: { type: 'string' },
} as const;

/** An ISO 8601 date or date-time; a date alone is midnight UTC. */
function date(v: string): Date {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--before must be a date (2026-01-31) or a date-time with a zone (2026-01-31T12:00:00Z), not '${v}'`);
  return d;
}

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
        const archives = f.archive?.length ? await verifyArchives(ctx.engine, ctx.audit, f.archive) : undefined;
        if (f.json) io.out(JSON.stringify(archives ? { ...r, archives } : r));
        else {
          if (r.ok) io.out(`audit trail intact: ${r.count} entries${r.from !== undefined ? ` from entry ${r.from} (entries before it are archived)` : ''}`);
          else io.out(`audit trail ALTERED: first bad entry ${r.firstBadId}: ${r.reason}`);
          if (archives?.ok) io.out(`archived segments intact: ${archives.segments.length} segment(s), entries 1..${archives.through}, linked to the live chain`);
          else if (archives) io.out(`archived segments NOT intact: ${archives.reason}`);
        }
        return r.ok && (archives?.ok ?? true) ? 0 : 1;
      }
      case 'archive': {
        const before = date(requireFlag(f.before, 'before'));
        const out = path.resolve(requireFlag(f.out, 'out'));
        if (fs.existsSync(out)) throw new UsageError(`${out} exists; archives are never overwritten`);
        const signer = await ctx.keys.currentTokenKey();
        const r = await archiveAudit(ctx.engine, ctx.audit, { before, out, signer, actor: cliActor() });
        if (f.json) io.out(JSON.stringify(r));
        else if (r.count === 0) io.out(`no live entry is older than ${before.toISOString()}: nothing archived`);
        else io.out(`archived entries ${r.firstId}..${r.lastId} (${r.count}) to ${out} (sha256 ${r.sha256}); the live chain continues from entry ${r.lastId! + 1}`);
        return 0;
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
