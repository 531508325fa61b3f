// `warden admin ...`: admin API tokens, the master key file, and the server's long-lived keys.
import { UsageError, parseFlags, requireFlag, type Io } from './io.ts';
import { CONTEXT_OPTIONS, cliActor, withContext } from './context.ts';
import { generateMasterKeyFile } from '../secrets/master-key.ts';
import { WARDEN_SUITE } from '../protocol/sealing.ts';
import type { AdminRole } from '../store/admin-tokens.ts';

const USAGE = `usage:
  warden admin token create --role admin|auditor [--label L]
  warden admin token list [--json]
  warden admin token revoke ID
  warden admin master-key generate --out FILE
  warden admin keys show [--json]
  warden admin keys rotate --hpke | --token
  warden admin keys retire SERVER_KEY_ID
common: [--data DIR | --database URL] [--master-key-file FILE | --master-key-env VAR] [--dev]`;

const OPTIONS = {
  ...CONTEXT_OPTIONS,
  role: { type: 'string' },
  label: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  hpke: { type: 'boolean' },
  token: { type: 'boolean' },
} as const;

export async function run(args: string[], io: Io): Promise<number> {
  const [group, sub, ...rest] = args;
  if (group === undefined || group === '--help' || group === '-h') {
    io.out(USAGE);
    return group === undefined ? 2 : 0;
  }
  const { values: f, positionals } = parseFlags(rest, OPTIONS, true);
  const actor = cliActor();
  const key = `${group} ${sub ?? ''}`.trim();

  if (key === 'master-key generate') {
    const out = requireFlag(f.out, 'out');
    try {
      generateMasterKeyFile(out);
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      throw new UsageError(c === 'EEXIST' ? `${out} exists; refusing to replace a master key` : `cannot write ${out}: ${c ?? 'error'}`);
    }
    io.out(`wrote a new master key to ${out} (mode 0600); keep it out of the data directory and back it up`);
    return 0;
  }

  return withContext('admin', f, io, async (ctx) => {
    switch (key) {
      case 'token create': {
        if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
        const role = requireFlag(f.role, 'role');
        if (role !== 'admin' && role !== 'auditor') throw new UsageError('--role must be admin or auditor');
        const { id, token } = await ctx.tokens.create(role as AdminRole, f.label);
        await ctx.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action: 'token.create', id, role, ...(f.label ? { label: f.label } : {}) } });
        io.err(`created ${role} token ${id}; it is shown once, store it now`);
        io.out(token);
        return 0;
      }
      case 'token list': {
        const list = await ctx.tokens.list();
        if (f.json) io.out(JSON.stringify(list, null, 2));
        else if (!list.length) io.out('no tokens');
        else for (const t of list) io.out([t.id, t.role.padEnd(7), t.createdAt, t.revokedAt ? `revoked ${t.revokedAt}` : 'active', t.label ?? ''].join('  ').trimEnd());
        return 0;
      }
      case 'token revoke': {
        const [id, ...extra] = positionals;
        if (id === undefined || extra.length) throw new UsageError('token revoke takes exactly one ID');
        const changed = await ctx.tokens.revoke(id);
        await ctx.audit.append({ type: 'admin', actor, outcome: changed ? 'ok' : 'noop', data: { action: 'token.revoke', id } });
        io.out(changed ? `revoked token ${id}` : `token ${id} was already revoked`);
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
        if (f.json) io.out(JSON.stringify(view, null, 2));
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
          io.out(`new current HPKE public key (pin it in new images):\n  ${pk}\n  serverKeyId ${k.id}`);
          io.out(`the previous key ${previous} stays active for images that pin it; once none is left, run:\n  warden admin keys retire ${previous}`);
        } else {
          const kid = await ctx.keys.rotateTokenKey({ actor });
          io.out(`new token signing key ${kid}; older public keys stay in the JWKS`);
        }
        return 0;
      }
      case 'keys retire': {
        const [id, ...extra] = positionals;
        if (id === undefined || extra.length) throw new UsageError('keys retire takes exactly one SERVER_KEY_ID (see warden admin keys show)');
        if (!/^[0-9a-f]{64}$/.test(id)) throw new UsageError('a SERVER_KEY_ID is 64 lowercase hex characters (see warden admin keys show)');
        const r = await ctx.keys.retireHpke(id, { actor });
        io.out(`retired HPKE key ${id} at ${r.retiredAt}; images pinning it are refused with server_key_retired`);
        return 0;
      }
      default:
        throw new UsageError(`unknown sub-command '${key}' (try 'warden admin --help')`);
    }
  });
}
