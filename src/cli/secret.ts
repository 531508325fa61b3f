// `warden secret ...`: create, rotate, list, delete secrets and export an SEFS key for `occlum build`.
import fs from 'node:fs';
import { CliError, JSON_FLAG, UsageError, parseFlags, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, dataDirOf, requireDatabase, withContext, type ContextFlags } from './context.ts';
import { MAX_SECRET_BYTES, listSecretVersions, type SecretKind, type SecretMeta, type SecretVersionInfo } from '../store/secrets.ts';
import { StoreError } from '../store/errors.ts';
import { formatImageKey, parseImageKey } from '../secrets/image-key.ts';
import { DEV_DEMO_SECRET } from './dev.ts';

const COMMON = { ...CONTEXT_OPTIONS, ...JSON_FLAG } as const satisfies FlagSpecs;
const FROM = { from: { type: 'string', arg: 'FILE', help: 'take the value from FILE (default: random bytes)' } } as const satisfies FlagSpecs;

const SUBS = {
  create: {
    synopsis: 'secret create NAME [--kind sefs-key|bytes] [--from FILE]',
    summary: 'create a secret (version 1): a 16-byte SEFS key by default, or any bytes with --kind bytes',
    flags: {
      kind: { type: 'string', arg: 'KIND', help: 'sefs-key (16 bytes, default; --from takes 16 raw bytes or `occlum gen-image-key` text) or bytes (1 byte to 64 KiB)' },
      ...FROM,
      ...COMMON,
    },
    notes: 'An existing NAME is refused (exit 1): rotate it instead.',
  },
  rotate: {
    synopsis: 'secret rotate NAME [--from FILE]',
    summary: 'add a new current version; the one it replaces stays releasable for 7 days or until finish-rotation',
    flags: { ...FROM, ...COMMON },
  },
  'finish-rotation': {
    synopsis: 'secret finish-rotation NAME',
    summary: 'end a rotation now: only the current version is released from now on',
    flags: COMMON,
  },
  list: {
    synopsis: 'secret list [--json]',
    summary: 'every version of every secret (never values): whether it is released now, and until when',
    flags: COMMON,
    notes: 'Needs no master key (--master-key-* are accepted and not used). With --dev it also lists the built-in demo secret of `serve --dev`.',
  },
  delete: {
    synopsis: 'secret delete NAME',
    summary: 'delete a secret, all its versions',
    flags: COMMON,
  },
  'export-image-key': {
    synopsis: 'secret export-image-key NAME --out FILE [--version N] [--force]',
    summary: 'write a sefs-key in the `occlum gen-image-key` format (mode 0600) for `occlum build --image-key FILE`',
    flags: {
      out: { type: 'string', arg: 'FILE', help: 'where to write the key (refused if it exists, unless --force)' },
      version: { type: 'string', arg: 'N', help: 'which version (default: the current one)' },
      force: { type: 'boolean', help: 'overwrite FILE' },
      ...COMMON,
    },
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(path: string[]): string {
  const sub = path[0];
  if (sub !== undefined && isSub(sub)) return renderHelp(SUBS[sub]);
  return renderGroupHelp('secret', 'Secrets are encrypted at rest under the master key, versioned, and never printed.', SUBS);
}

function readValue(file: string, kind: SecretKind): Buffer {
  let raw: Buffer;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UsageError(`--from ${file} is not a regular file`);
    if (st.size > MAX_SECRET_BYTES * 4) throw new UsageError(`--from ${file} is too large`);
    raw = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read --from ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (kind === 'sefs-key') {
    // Either 16 raw bytes or a key file written by `occlum gen-image-key`.
    if (raw.length === 16) return raw;
    const parsed = parseImageKey(raw.toString('latin1'));
    if (parsed) return parsed;
    throw new StoreError(
      'invalid_secret_value',
      `${file} is not a sefs-key (16 raw bytes or the \`occlum gen-image-key\` text); for a password or other bytes add --kind bytes`,
    );
  }
  return raw;
}

function name(positionals: string[], sub: string): string {
  const [n, ...extra] = positionals;
  if (n === undefined) throw new UsageError(`secret ${sub}: missing NAME`);
  if (extra.length) throw new UsageError(`secret ${sub}: unexpected argument '${extra[0]}'`);
  return n;
}

function describe(m: SecretMeta): string {
  return `${m.name} version ${m.version} (${m.kind})`;
}

const metaJson = (m: SecretMeta) => ({ name: m.name, kind: m.kind, version: m.version, createdAt: m.createdAt });

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help([]));
    return 2;
  }
  if (!isSub(sub)) throw unknownSubcommand('secret', sub, Object.keys(SUBS));
  if (sub === 'list') return list(rest, io);
  const { values, positionals } = parseFlags(rest, SUBS[sub].flags, true);
  // Each sub-command parses only its own flags; read them through one shape.
  const f = values as { kind?: string; from?: string; out?: string; version?: string; force?: boolean; json?: boolean } & ContextFlags;
  const actor = cliActor();
  const say = (text: string, json: Record<string, unknown>) => io.out(f.json ? JSON.stringify({ ok: true, ...json }) : text);
  return withContext(
    'secret',
    f,
    io,
    async (ctx) => {
      switch (sub) {
        case 'create': {
          const n = name(positionals, sub);
          // The admin API of serve --dev refuses it too (DevSecretStore).
          if (f.dev && n === DEV_DEMO_SECRET.name) throw new StoreError('secret_exists', `secret '${n}' is built into --dev`);
          const kind = (f.kind ?? 'sefs-key') as SecretKind;
          if (kind !== 'sefs-key' && kind !== 'bytes') throw new UsageError(`--kind must be sefs-key or bytes`);
          const from = f.from;
          const value = from !== undefined ? readValue(from, kind) : undefined;
          // The audit entry commits with the secret.
          const meta = await ctx.secrets.create(n, kind, value, { actor, extra: { source: from ? 'file' : 'generated' } });
          say(`created secret ${describe(meta)}`, { secret: metaJson(meta) });
          return 0;
        }
        case 'rotate': {
          const n = name(positionals, sub);
          const current = await ctx.secrets.get(n);
          if (!current) throw new StoreError('secret_not_found', `no secret named '${n}'`);
          const from = f.from;
          const value = from !== undefined ? readValue(from, current.meta.kind) : undefined;
          const meta = await ctx.secrets.rotate(n, value, { actor, extra: { source: from ? 'file' : 'generated' } });
          const prev = (await ctx.secrets.versions(n)).find((v) => v.version === meta.version - 1);
          say(
            `rotated secret ${describe(meta)}; version ${meta.version - 1} stays releasable (to policies that ask for current+previous) until ${prev?.releasedUntil ?? '?'}, or until 'warden secret finish-rotation ${n}'`,
            { secret: metaJson(meta), previousReleasableUntil: prev?.releasedUntil ?? null },
          );
          return 0;
        }
        case 'finish-rotation': {
          const n = name(positionals, sub);
          if (!(await ctx.secrets.versions(n)).length) throw new StoreError('secret_not_found', `no secret named '${n}'`);
          const changed = await ctx.secrets.endRotation(n, { actor });
          say(changed ? `only the current version of ${n} is released from now on` : `${n} has no rotation in progress`, { name: n, changed });
          return 0;
        }
        case 'delete': {
          const n = name(positionals, sub);
          const deleted = await ctx.secrets.delete(n, { actor });
          if (!deleted) throw new StoreError('secret_not_found', `no secret named '${n}'`);
          say(`deleted secret ${n} (all versions)`, { name: n, deleted: true });
          return 0;
        }
        case 'export-image-key': {
          const n = name(positionals, sub);
          const out = requireFlag(f.out, 'out');
          let version: number | undefined;
          if (f.version !== undefined) {
            if (!/^[1-9][0-9]{0,8}$/.test(f.version)) throw new UsageError('--version must be a positive integer');
            version = Number(f.version);
          }
          const s = await ctx.secrets.get(n, version);
          if (!s) throw new StoreError('secret_not_found', `no secret named '${n}'${version ? ` with version ${version}` : ''}`);
          if (s.meta.kind !== 'sefs-key') throw new StoreError('invalid_secret_value', `secret '${n}' is not a sefs-key`);
          try {
            // 0600 and no silent overwrite: this file is the key of an encrypted image.
            fs.writeFileSync(out, formatImageKey(s.value), { mode: 0o600, flag: f.force ? 'w' : 'wx' });
            if (f.force) fs.chmodSync(out, 0o600);
          } catch (e) {
            const c = (e as NodeJS.ErrnoException).code;
            if (c === 'EEXIST') throw new CliError('file_exists', `${out} already exists (pass --force to overwrite)`);
            throw new CliError('write_failed', `cannot write ${out}: ${c ?? 'error'}`);
          }
          await ctx.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action: 'secret.export-image-key', name: n, version: s.meta.version } });
          say(`wrote the image key of ${describe(s.meta)} to ${out} (use: occlum build --image-key ${out})`, { secret: metaJson(s.meta), file: out });
          return 0;
        }
      }
    },
    // Only `create` may set up a new data directory; the others name the one they did not find.
    { create: sub === 'create', needsMasterKey: true },
  );
}

function releasability(v: SecretVersionInfo): string {
  if (v.current) return 'yes (current)';
  if (v.releasable) return `until ${v.releasedUntil}`;
  return 'no';
}

/** `secret list`: metadata only, so no master key is needed (and none is created). */
async function list(args: string[], io: Io): Promise<number> {
  const { values: f, positionals } = parseFlags(args, SUBS.list.flags, true);
  if (positionals.length) throw new UsageError(`secret list takes no arguments`);
  // The store without the master key: names, versions and dates are not encrypted.
  let versions: SecretVersionInfo[] = [];
  let where = '';
  await withContext(
    'secret',
    f,
    io,
    async (ctx) => {
      versions = await listSecretVersions(ctx.engine);
      where = ctx.engine.location;
      return 0;
    },
    { create: false },
  );
  // As in serve --dev (DevSecretStore): a stored secret of the demo's name is the one released.
  const builtIn = f.dev && !versions.some((v) => v.name === DEV_DEMO_SECRET.name) ? [DEV_DEMO_SECRET] : [];
  if (f.json) {
    io.out(JSON.stringify({ ok: true, secrets: versions, ...(f.dev ? { devBuiltIn: builtIn } : {}) }, null, 2));
    return 0;
  }
  if (versions.length === 0 && !builtIn.length) {
    io.out(`no secrets in ${where}`);
    return 0;
  }
  io.out(['NAME'.padEnd(24), 'KIND'.padEnd(9), 'VERSION', 'RELEASABLE'.padEnd(33), 'CREATED'].join(' '));
  for (const v of versions) io.out([v.name.padEnd(24), v.kind.padEnd(9), String(v.version).padEnd(7), releasability(v).padEnd(33), v.createdAt].join(' '));
  for (const b of builtIn) io.out([b.name.padEnd(24), b.kind.padEnd(9), '1'.padEnd(7), 'yes (built into serve --dev only)'.padEnd(33), '-'].join(' '));
  return 0;
}
