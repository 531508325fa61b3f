// `warden audit ...`: verify the hash chain of the audit trail (and archived segments), list entries,
// archive old ones. Read-only commands never create a database: a missing one is an error naming the
// directory, never a new empty trail reported as intact.
import path from 'node:path';
import fs from 'node:fs';
import { archiveAudit, verifyArchives } from '../store/audit-archive.ts';
import { CliError, JSON_FLAG, UsageError, parseFlags, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, withContext, type ContextFlags } from './context.ts';

// The master key flags are accepted (and used only by archive) so one $MK works for every command.
const COMMON = { ...CONTEXT_OPTIONS, ...JSON_FLAG } as const satisfies FlagSpecs;

const SUBS = {
  verify: {
    synopsis: 'audit verify [--archive FILE]... [--json]',
    summary: 'walk the hash chain of the audit trail, and of archived segments (exit 1 if anything was altered)',
    flags: {
      archive: { type: 'string', multiple: true, arg: 'FILE', help: 'also verify this archived segment (repeatable, oldest first) and its link to the live chain' },
      ...COMMON,
    },
  },
  list: {
    synopsis: 'audit list [--limit N] [--after ID] [--type T] [--json]',
    summary: 'list audit entries, oldest first',
    flags: {
      limit: { type: 'string', arg: 'N', help: 'at most N entries' },
      after: { type: 'string', arg: 'ID', help: 'entries after this id' },
      type: { type: 'string', arg: 'T', help: 'only this type: attestation or admin' },
      ...COMMON,
    },
  },
  archive: {
    synopsis: 'audit archive --before DATE --out FILE',
    summary: 'move live entries older than DATE into a signed segment file (needs the master key: signed with the token key)',
    flags: {
      before: { type: 'string', arg: 'DATE', help: 'a date (2026-01-31, midnight UTC) or a date-time with a zone' },
      out: { type: 'string', arg: 'FILE', help: 'the segment file (never overwritten)' },
      ...COMMON,
    },
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(p: string[]): string {
  const sub = p[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp('audit', 'Every decision and admin action is one entry of a hash chain in the database.', SUBS);
}

/** An ISO 8601 date or date-time; a date alone is midnight UTC. */
function date(v: string): Date {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--before must be a date (2026-01-31) or a date-time with a zone (2026-01-31T12:00:00Z), not '${v}'`);
  return d;
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new UsageError(`--${flag} must be a non-negative integer`);
  return Number(v);
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help([]));
    return 2;
  }
  if (!isSub(sub)) throw unknownSubcommand('audit', sub, Object.keys(SUBS));
  const { values } = parseFlags(rest, SUBS[sub].flags, false);
  const f = values as { limit?: string; after?: string; type?: string; json?: boolean; archive?: string[]; before?: string; out?: string } & ContextFlags;
  return withContext(
    'audit',
    f,
    io,
    async (ctx) => {
      if (sub === 'verify') {
        const r = await ctx.audit.verify();
        const archives = f.archive?.length ? await verifyArchives(ctx.engine, ctx.audit, f.archive) : undefined;
        if (f.json) io.out(JSON.stringify(archives ? { ...r, archives } : r));
        else {
          if (r.ok) io.out(`audit trail intact: ${r.count} entries${r.from !== undefined ? ` from entry ${r.from} (entries before it are archived)` : ''} (${ctx.engine.location})`);
          else io.out(`audit trail ALTERED: first bad entry ${r.firstBadId}: ${r.reason}`);
          if (archives?.ok) io.out(`archived segments intact: ${archives.segments.length} segment(s), entries 1..${archives.through}, linked to the live chain`);
          else if (archives) io.out(`archived segments NOT intact: ${archives.reason}`);
        }
        return r.ok && (archives?.ok ?? true) ? 0 : 1;
      }
      if (sub === 'archive') {
        const before = date(requireFlag(f.before, 'before'));
        const out = path.resolve(requireFlag(f.out, 'out'));
        if (fs.existsSync(out)) throw new CliError('file_exists', `${out} already exists; archives are never overwritten`);
        const signer = await ctx.keys.currentTokenKey();
        const r = await archiveAudit(ctx.engine, ctx.audit, { before, out, signer, actor: cliActor() });
        if (f.json) io.out(JSON.stringify({ ok: true, ...r }));
        else if (r.count === 0) io.out(`no live entry is older than ${before.toISOString()}: nothing archived`);
        else io.out(`archived entries ${r.firstId}..${r.lastId} (${r.count}) to ${out} (sha256 ${r.sha256}); the live chain continues from entry ${r.lastId! + 1}`);
        return 0;
      }
      const limit = int(f.limit, 'limit');
      const afterId = int(f.after, 'after');
      const entries = await ctx.audit.list({ ...(limit !== undefined ? { limit } : {}), ...(afterId !== undefined ? { afterId } : {}), ...(f.type ? { type: f.type } : {}) });
      if (f.json) io.out(JSON.stringify({ ok: true, entries }, null, 2));
      else if (!entries.length) io.out('no entries');
      else for (const e of entries) io.out(`${e.id}\t${e.ts}\t${e.type}\t${e.outcome ?? ''}\t${e.actor ?? ''}\t${JSON.stringify(e.data)}`);
      return 0;
    },
    { create: false },
  );
}
