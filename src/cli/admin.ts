// `warden admin ...`: admin API tokens, the master key file, and the server's long-lived keys.
import { CliError, JSON_FLAG, UsageError, parseFlags, renderGroupHelp, renderHelp, requireFlag, unknownSubcommand, type CommandHelp, type FlagSpecs, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, dataDirOf, withContext, type ContextFlags } from './context.ts';
import { generateMasterKeyFile, loadMasterKey } from '../secrets/master-key.ts';
import { WARDEN_SUITE } from '../protocol/sealing.ts';
import { masterKeyFingerprint } from '../store/keyring.ts';
import type { AdminRole } from '../store/admin-tokens.ts';

const COMMON = { ...CONTEXT_OPTIONS, ...JSON_FLAG } as const satisfies FlagSpecs;

const SUBS = {
  'token create': {
    synopsis: 'admin token create --role admin|auditor [--label L]',
    summary: 'create a bearer token for /v1/admin (printed once on stdout; only its hash is stored)',
    flags: {
      role: { type: 'string', arg: 'ROLE', help: 'admin (read and write) or auditor (read only)' },
      label: { type: 'string', arg: 'L', help: 'a note for `token list`' },
      ...COMMON,
    },
  },
  'token list': { synopsis: 'admin token list [--json]', summary: 'list tokens (ids, roles, dates; never the tokens)', flags: COMMON },
  'token revoke': { synopsis: 'admin token revoke ID', summary: 'revoke a token by its id', flags: COMMON },
  'master-key generate': {
    synopsis: 'admin master-key generate --out FILE',
    summary: 'write a new random master key (64 hex characters, mode 0600); refuses to replace an existing file',
    flags: {
      out: { type: 'string', arg: 'FILE', help: 'where to write it (its directory is created); keep it outside the data directory' },
      ...JSON_FLAG,
    },
  },
  'master-key fingerprint': {
    synopsis: 'admin master-key fingerprint (--master-key-file FILE | --master-key-env VAR | --dev [--data DIR])',
    summary: "print a master key's fingerprint, the one a master_key_mismatch error names",
    flags: COMMON,
  },
  'keys show': { synopsis: 'admin keys show [--json]', summary: "the server's HPKE public key (pin it in enclave images) and token signing keys", flags: COMMON },
  'keys rotate': {
    synopsis: 'admin keys rotate --hpke | --token',
    summary: 'replace the HPKE key or the token signing key',
    flags: {
      hpke: { type: 'boolean', help: 'a new current HPKE key; the previous one keeps sealing for images that pin it until `keys retire`' },
      token: { type: 'boolean', help: 'a new token signing key; older public keys stay in the JWKS' },
      ...COMMON,
    },
  },
  'keys retire': {
    synopsis: 'admin keys retire SERVER_KEY_ID',
    summary: 'retire a previous HPKE key (see keys show): images pinning it are refused with server_key_retired',
    flags: COMMON,
  },
} as const satisfies Record<string, CommandHelp>;

type Sub = keyof typeof SUBS;
const isSub = (s: string): s is Sub => Object.hasOwn(SUBS, s);

export function help(path: string[]): string {
  const key = path.slice(0, 2).join(' ');
  if (isSub(key)) return renderHelp(SUBS[key]);
  const group = path[0];
  const subs = group ? Object.fromEntries(Object.entries(SUBS).filter(([k]) => k.startsWith(`${group} `))) : {};
  return renderGroupHelp(`admin${group && Object.keys(subs).length ? ` ${group}` : ''}`, 'Admin API tokens, the master key and the server keys.', Object.keys(subs).length ? subs : SUBS);
}

export async function run(args: string[], io: Io): Promise<number> {
  const [group, sub, ...rest] = args;
  if (group === undefined) {
    io.err(help([]));
    return 2;
  }
  const key = `${group} ${sub ?? ''}`.trim();
  if (!isSub(key)) {
    const groups = [...new Set(Object.keys(SUBS).map((k) => k.split(' ')[0]!))];
    if (!groups.includes(group)) throw unknownSubcommand('admin', group, groups);
    throw unknownSubcommand(`admin ${group}`, sub ?? '', Object.keys(SUBS).filter((k) => k.startsWith(`${group} `)).map((k) => k.split(' ')[1]!));
  }
  const { values, positionals } = parseFlags(rest, SUBS[key].flags, true);
  const f = values as { role?: string; label?: string; out?: string; hpke?: boolean; token?: boolean; json?: boolean } & ContextFlags;
  if (key !== 'token revoke' && key !== 'keys retire' && positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const actor = cliActor();
  const say = (text: string, json: Record<string, unknown>) => io.out(f.json ? JSON.stringify({ ok: true, ...json }) : text);

  if (key === 'master-key generate') {
    const out = requireFlag(f.out, 'out');
    try {
      generateMasterKeyFile(out);
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      if (c === 'EEXIST') throw new CliError('file_exists', `${out} already exists; refusing to replace a master key`);
      throw new CliError('write_failed', `cannot write ${out}: ${c ?? 'error'}`);
    }
    const fp = masterKeyFingerprint(loadMasterKey({ file: out, dev: false, dataDir: '.', warn: () => {} }));
    say(`wrote a new master key to ${out} (mode 0600, fingerprint ${fp}); keep it out of the data directory and back it up`, { file: out, fingerprint: fp });
    return 0;
  }
  if (key === 'master-key fingerprint') {
    if (!f['master-key-file'] && !f['master-key-env'] && !f.dev) throw new UsageError('give --master-key-file FILE, --master-key-env VAR or --dev');
    // The key alone: no database is opened, and a missing development key is an error, never made here.
    const mk = loadMasterKey({
      ...(f['master-key-file'] ? { file: f['master-key-file'] } : {}),
      ...(f['master-key-env'] ? { env: f['master-key-env'] } : {}),
      dev: f.dev === true,
      createDevKey: false,
      dataDir: dataDirOf(f.data),
      warn: io.err,
    });
    const fp = masterKeyFingerprint(mk);
    say(fp, { fingerprint: fp });
    return 0;
  }

  return withContext(
    'admin',
    f,
    io,
    async (ctx) => {
      switch (key) {
        case 'token create': {
          const role = requireFlag(f.role, 'role');
          if (role !== 'admin' && role !== 'auditor') throw new UsageError('--role must be admin or auditor');
          const { id, token } = await ctx.tokens.create(role as AdminRole, f.label);
          await ctx.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action: 'token.create', id, role, ...(f.label ? { label: f.label } : {}) } });
          if (f.json) io.out(JSON.stringify({ ok: true, id, role, token }));
          else {
            io.err(`created ${role} token ${id}; it is shown once, store it now`);
            io.out(token);
          }
          return 0;
        }
        case 'token list': {
          const list = await ctx.tokens.list();
          if (f.json) io.out(JSON.stringify({ ok: true, tokens: list }, null, 2));
          else if (!list.length) io.out('no tokens');
          else for (const t of list) io.out([t.id, t.role.padEnd(7), t.createdAt, t.revokedAt ? `revoked ${t.revokedAt}` : 'active', t.label ?? ''].join('  ').trimEnd());
          return 0;
        }
        case 'token revoke': {
          const [id, ...extra] = positionals;
          if (id === undefined || extra.length) throw new UsageError('token revoke takes exactly one ID');
          const changed = await ctx.tokens.revoke(id);
          await ctx.audit.append({ type: 'admin', actor, outcome: changed ? 'ok' : 'noop', data: { action: 'token.revoke', id } });
          say(changed ? `revoked token ${id}` : `token ${id} was already revoked`, { id, changed });
          return 0;
        }
        case 'keys show': {
          const ring = await ctx.keys.hpkeKeys();
          const current = ring.find((k) => k.current) ?? ring[0]!;
          const tokenKeys = (await ctx.keys.tokenKeys()).map((k) => ({ kid: k.kid, current: k.current, createdAt: k.createdAt, ...(k.retiredAt ? { retiredAt: k.retiredAt } : {}) }));
          const view = {
            hpke: { suite: WARDEN_SUITE, publicKey: current.publicKey.toString('base64'), serverKeyId: current.id },
            hpkeKeys: ring.map((k) => ({ serverKeyId: k.id, publicKey: k.publicKey.toString('base64'), current: k.current, createdAt: k.createdAt })),
            tokenKeys,
          };
          if (f.json) io.out(JSON.stringify({ ok: true, ...view }, null, 2));
          else {
            io.out(`HPKE (${WARDEN_SUITE}) public key, pin this in enclave images:`);
            io.out(`  ${view.hpke.publicKey}`);
            io.out(`  serverKeyId ${view.hpke.serverKeyId}`);
            const previous = view.hpkeKeys.filter((k) => !k.current);
            if (previous.length) {
              io.out('previous HPKE keys, still sealing for images that pin them (retire with warden admin keys retire ID):');
              for (const k of previous) io.out(`  ${k.serverKeyId}  ${k.publicKey}  created ${k.createdAt}`);
            }
            io.out('token signing keys (ES256):');
            for (const k of tokenKeys) io.out(`  ${k.kid}${k.current ? '  (current)' : `  retired ${k.retiredAt ?? ''}`}`);
          }
          return 0;
        }
        case 'keys rotate': {
          if (Boolean(f.hpke) === Boolean(f.token)) throw new UsageError('keys rotate needs exactly one of --hpke or --token');
          if (f.hpke) {
            const previous = (await ctx.keys.hpke()).id;
            // The audit entry commits with the rotation.
            const k = await ctx.keys.rotateHpke({ actor });
            const pk = k.publicKey.toString('base64');
            say(
              `new current HPKE public key (pin it in new images):\n  ${pk}\n  serverKeyId ${k.id}\n` +
                `the previous key ${previous} stays active for images that pin it; once none is left, run:\n  warden admin keys retire ${previous}`,
              { key: 'hpke', publicKey: pk, serverKeyId: k.id, previous },
            );
          } else {
            const kid = await ctx.keys.rotateTokenKey({ actor });
            say(`new token signing key ${kid}; older public keys stay in the JWKS`, { key: 'token', kid });
          }
          return 0;
        }
        case 'keys retire': {
          const [id, ...extra] = positionals;
          if (id === undefined || extra.length) throw new UsageError('keys retire takes exactly one SERVER_KEY_ID (see warden admin keys show)');
          if (!/^[0-9a-f]{64}$/.test(id)) throw new UsageError('a SERVER_KEY_ID is 64 lowercase hex characters (see warden admin keys show)');
          const r = await ctx.keys.retireHpke(id, { actor });
          say(`retired HPKE key ${id} at ${r.retiredAt}; images pinning it are refused with server_key_retired`, { serverKeyId: id, retiredAt: r.retiredAt });
          return 0;
        }
      }
      return 2;
    },
    // A token may be the first thing made in a new data directory; the rest need an existing one.
    { create: key === 'token create' },
  );
}
