// `warden secret ...`: create, rotate, list, delete secrets and export an SEFS key for `occlum build`.
import fs from 'node:fs';
import { UsageError, parseFlags, requireFlag, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, withContext } from './context.ts';
import { MAX_SECRET_BYTES, type SecretKind, type SecretMeta } from '../store/secrets.ts';
import { StoreError } from '../store/errors.ts';
import { formatImageKey, parseImageKey } from '../secrets/image-key.ts';

const USAGE = `usage:
  warden secret create NAME [--kind sefs-key|bytes] [--from FILE]
  warden secret rotate NAME [--from FILE]
  warden secret finish-rotation NAME
  warden secret list [--json]
  warden secret delete NAME
  warden secret export-image-key NAME --out FILE [--version N] [--force]
common: [--data DIR | --database URL] [--master-key-file FILE | --master-key-env VAR] [--dev]`;

const OPTIONS = {
  ...CONTEXT_OPTIONS,
  kind: { type: 'string' },
  from: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  version: { type: 'string' },
  force: { type: 'boolean' },
} as const;

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
    throw new StoreError('invalid_secret_value', 'a sefs-key file holds 16 raw bytes or the `occlum gen-image-key` text format');
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

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const { values: f, positionals } = parseFlags(rest, OPTIONS, true);
  const actor = cliActor();
  return withContext('secret', f, io, async (ctx) => {
    switch (sub) {
      case 'create': {
        const n = name(positionals, sub);
        const kind = (f.kind ?? 'sefs-key') as SecretKind;
        if (kind !== 'sefs-key' && kind !== 'bytes') throw new UsageError(`--kind must be sefs-key or bytes`);
        const value = f.from !== undefined ? readValue(f.from, kind) : undefined;
        // The audit entry commits with the secret.
        const meta = await ctx.secrets.create(n, kind, value, { actor, extra: { source: f.from ? 'file' : 'generated' } });
        io.out(`created secret ${describe(meta)}`);
        return 0;
      }
      case 'rotate': {
        const n = name(positionals, sub);
        const current = await ctx.secrets.get(n);
        if (!current) throw new StoreError('secret_not_found', `no secret named '${n}'`);
        const value = f.from !== undefined ? readValue(f.from, current.meta.kind) : undefined;
        const meta = await ctx.secrets.rotate(n, value, { actor, extra: { source: f.from ? 'file' : 'generated' } });
        io.out(`rotated secret ${describe(meta)}; version ${meta.version - 1} stays releasable until the rotation is finished or its grace period ends`);
        return 0;
      }
      case 'finish-rotation': {
        const n = name(positionals, sub);
        const changed = await ctx.secrets.endRotation(n, { actor });
        io.out(changed ? `only the current version of ${n} is released from now on` : `${n} has no rotation in progress`);
        return 0;
      }
      case 'list': {
        if (positionals.length) throw new UsageError(`secret list takes no arguments`);
        const list = await ctx.secrets.list();
        if (f.json) {
          io.out(JSON.stringify(list, null, 2));
        } else if (list.length === 0) {
          io.out('no secrets');
        } else {
          io.out(['NAME'.padEnd(24), 'KIND'.padEnd(9), 'VERSION', 'CREATED'].join(' '));
          for (const m of list) io.out([m.name.padEnd(24), m.kind.padEnd(9), String(m.version).padEnd(7), m.createdAt].join(' '));
        }
        return 0;
      }
      case 'delete': {
        const n = name(positionals, sub);
        const deleted = await ctx.secrets.delete(n, { actor });
        if (!deleted) throw new StoreError('secret_not_found', `no secret named '${n}'`);
        io.out(`deleted secret ${n} (all versions)`);
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
          if (c === 'EEXIST') throw new UsageError(`${out} exists (pass --force to overwrite)`);
          throw new UsageError(`cannot write ${out}: ${c ?? 'error'}`);
        }
        await ctx.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action: 'secret.export-image-key', name: n, version: s.meta.version } });
        io.out(`wrote the image key of ${describe(s.meta)} to ${out} (use: occlum build --image-key ${out})`);
        return 0;
      }
      default:
        throw new UsageError(`unknown sub-command '${sub}' (try 'warden secret --help')`);
    }
  });
}
