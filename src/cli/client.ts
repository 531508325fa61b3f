// `warden client attest`: the enclave side of the protocol as one command, for smoke-testing a deployment
// or a policy, and for enclave developers to see each step: challenge, a quote binding the nonce and a
// fresh key, attest, HPKE Auth open of each secret, and the result token verified against the JWKS.
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { assertP256Point, publicKeyBytes } from '../crypto/p256.ts';
import { openSecret } from '../secrets/sealing.ts';
import { WardenError } from '../protocol/errors.ts';
import { serverKeyId } from '../protocol/sealing.ts';
import { verifyJwtEs256, type Jwks } from '../secrets/jwt.ts';
import { expectedReportData } from '../protocol/wire.ts';
import { makeQuote } from '../sim/quote.ts';
import type { SimPki } from '../sim/pki.ts';
import { decodeQuoteBytes } from './inputs.ts';
import { SERVER_FLAGS, requestJson, serverError, serverOf, type Server } from './http.ts';
import { CliError, JSON_FLAG, RemoteError, UsageError, parseFlags, renderGroupHelp, renderHelp, unknownSubcommand, type CommandHelp, type Io } from './io.ts';
import { devSimPki } from './sim.ts';

const ATTEST = {
  synopsis:
    'client attest [--server URL] [--cacert FILE] --secret NAME... [--dev [--tee sgx|tdx] | --quote-from PROGRAM] [--mrenclave HEX] [--mrsigner HEX] [--isvprodid N] [--isvsvn N] [--mrtd HEX] [--debug] [--server-key BASE64] [--out DIR] [--json]',
  summary:
    "Run the enclave side against a server: challenge, quote (binding the nonce and a fresh P-256 key), attest, HPKE Auth open of each secret, and the token verified against the server's JWKS.",
  flags: {
    ...SERVER_FLAGS,
    secret: { type: 'string', multiple: true, arg: 'NAME', help: 'a secret to ask for (repeatable; all or nothing)' },
    dev: { type: 'boolean', help: 'make the quote with the simulated quoting enclave of DIR/sim-pki (what `serve --dev` trusts)' },
    tee: { type: 'string', arg: 'sgx|tdx', help: "with --dev: an SGX enclave's quote (default), or a TDX trust domain's (the simulator's default TD, which --dev's built-in policy dev-demo-td names)" },
    'quote-from': {
      type: 'string',
      arg: 'PROGRAM',
      help: "a program that reads the 64 report-data bytes as hex on stdin and prints a quote (raw, hex or base64): real hardware, an SGX enclave's or a TDX guest's quote (e.g. from /sys/kernel/config/tsm/report)",
    },
    mrenclave: { type: 'string', arg: 'HEX', help: "with --dev: the enclave's MRENCLAVE (default: the simulator's default enclave)" },
    mrsigner: { type: 'string', arg: 'HEX', help: 'with --dev: MRSIGNER' },
    isvprodid: { type: 'string', arg: 'N', help: 'with --dev: ISVPRODID (default 0)' },
    isvsvn: { type: 'string', arg: 'N', help: 'with --dev: ISVSVN (default 0)' },
    mrtd: { type: 'string', arg: 'HEX', help: "with --dev --tee tdx: the TD's MRTD, 48 bytes (default: the simulator's default TD)" },
    debug: { type: 'boolean', help: 'with --dev: a debug enclave, or TD (policies deny these unless they say debug: allow)' },
    'server-key': { type: 'string', arg: 'BASE64', help: "pin the server's HPKE public key (65 bytes); without it the key is trusted on first use" },
    out: { type: 'string', arg: 'DIR', help: 'write the values (DIR/NAME, older versions DIR/NAME.vN) and the token (DIR/token.jwt), mode 0600' },
    data: { type: 'string', arg: 'DIR', help: 'with --dev: the data directory holding sim-pki/ (default $WARDEN_DATA, else ./data)' },
    ...JSON_FLAG,
  },
  notes: [
    'Values are never printed: the output names each secret with its version and the SHA-256 of its value.',
    '--json prints {"ok", "secrets": [{"name", "version", "sha256"}], "policy", "tcbStatus", "token": {"header", "claims"}, "error": {"code", "message"} | null}.',
    "exit codes: 0 released, 1 refused or failed (error.code: the server's code, or server_unreachable, tls_error, server_key_mismatch, quote_failed, hpke_open_failed, token_invalid), 2 usage",
  ].join('\n'),
} as const satisfies CommandHelp;

export function help(p: string[]): string {
  if (p[0] === 'attest') return renderHelp(ATTEST);
  return renderGroupHelp('client', 'The enclave side of Warden, for smoke tests and for seeing the protocol.', { attest: ATTEST });
}

interface Released {
  name: string;
  version: number;
  sha256: string;
}

export interface ClientAttestJson {
  ok: boolean;
  secrets: Released[];
  policy: string | null;
  tcbStatus: string | null;
  token: { header: Record<string, unknown>; claims: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

function hex(value: string | undefined, flag: string, len: number): Buffer | undefined {
  if (value === undefined) return undefined;
  const v = value.startsWith('0x') ? value.slice(2) : value;
  if (!/^([0-9a-fA-F]{2})+$/.test(v) || v.length !== len * 2) throw new UsageError(`--${flag} must be ${len} bytes of hex`);
  return Buffer.from(v, 'hex');
}

function u16(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 0xffff) throw new UsageError(`--${flag} must be an integer 0..65535`);
  return Number(value);
}

function serverKeyFlag(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const b = Buffer.from(value, 'base64');
  if (b.length !== 65 || b.toString('base64') !== value.replace(/\s+/g, '')) throw new UsageError('--server-key must be base64 of the 65-byte uncompressed P-256 key (GET /v1/server-keys)');
  try {
    assertP256Point(b);
  } catch {
    throw new UsageError('--server-key is not a P-256 point');
  }
  return b;
}

/** `--quote-from PROGRAM`: report data as hex on its stdin, a quote on its stdout. */
function quoteFromProgram(program: string, reportData: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(program, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new CliError('quote_failed', `cannot run ${program}: ${(e as Error).message}`));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CliError('quote_failed', `cannot run ${program}: ${e.code ?? e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const why = Buffer.concat(err).toString('utf8').trim().split('\n')[0] ?? '';
      if (code !== 0) return reject(new CliError('quote_failed', `${program} ${signal ? `was killed (${signal})` : `exited with ${code}`}${why ? `: ${why}` : ''}`));
      if (size > 1024 * 1024) return reject(new CliError('quote_failed', `${program} printed more than 1 MiB`));
      const q = decodeQuoteBytes(Buffer.concat(out));
      if (!q.length) return reject(new CliError('quote_failed', `${program} printed no quote`));
      resolve(q);
    });
    child.stdin.on('error', () => {}); // a program that does not read its input fails by its exit code
    child.stdin.end(reportData.toString('hex') + '\n');
  });
}

/** The sim quoting enclave's quote for --dev: an SGX quote v3, or a TD's quote v4 (the TD QE's format). */
async function simQuote(pki: SimPki, body: Pick<Parameters<typeof makeQuote>[0], 'report' | 'td'>): Promise<Buffer> {
  const platform = await pki.platform({ ca: 'processor' });
  return makeQuote({ platform, ...(body.td ? { version: 4 } : {}), ...body });
}

/** The given identity flags only, so the simulator's defaults fill the rest. */
function definedOf<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function writeOut(dir: string, files: Array<{ name: string; data: Buffer | string }>): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of files) {
      const file = path.join(dir, f.name);
      fs.writeFileSync(file, f.data, { mode: 0o600 });
      fs.chmodSync(file, 0o600); // an existing file keeps its mode on write
    }
  } catch (e) {
    throw new CliError('write_failed', `cannot write into ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    io.err(help([]));
    return 2;
  }
  if (sub !== 'attest') throw unknownSubcommand('client', sub, ['attest']);
  const { values: f } = parseFlags(rest, ATTEST.flags);

  // Every usage mistake is found before anything is sent.
  const names = f.secret ?? [];
  if (!names.length) throw new UsageError('give at least one --secret NAME (in development: --secret demo-sefs-key)');
  if (new Set(names).size !== names.length) throw new UsageError('a --secret is given twice');
  if (Boolean(f.dev) === (f['quote-from'] !== undefined)) throw new UsageError('give exactly one of --dev (a simulated quote) or --quote-from PROGRAM (real hardware)');
  const identity = {
    mrEnclave: hex(f.mrenclave, 'mrenclave', 32),
    mrSigner: hex(f.mrsigner, 'mrsigner', 32),
    isvProdId: u16(f.isvprodid, 'isvprodid'),
    isvSvn: u16(f.isvsvn, 'isvsvn'),
  };
  const mrTd = hex(f.mrtd, 'mrtd', 48);
  if (!f.dev && (Object.values(identity).some((v) => v !== undefined) || mrTd || f.debug || f.tee !== undefined)) {
    throw new UsageError('--tee, --mrenclave, --mrsigner, --isvprodid, --isvsvn, --mrtd and --debug describe a simulated quote: they go with --dev');
  }
  if (f.tee !== undefined && f.tee !== 'sgx' && f.tee !== 'tdx') throw new UsageError('--tee must be sgx or tdx');
  const td = f.tee === 'tdx';
  if (td && Object.values(identity).some((v) => v !== undefined)) throw new UsageError('--mrenclave, --mrsigner, --isvprodid and --isvsvn describe an SGX enclave; a TD has --mrtd');
  if (!td && mrTd) throw new UsageError('--mrtd describes a TDX trust domain: add --tee tdx');
  const pinned = serverKeyFlag(f['server-key']);
  const server = serverOf(f);
  const pki = f.dev ? devSimPki(f.data) : undefined;

  const result: ClientAttestJson = { ok: false, secrets: [], policy: null, tcbStatus: null, token: null, error: null };
  try {
    await attest(server, { names, pinned, io, json: f.json === true }, async (reportData) => {
      if (f['quote-from'] !== undefined) return quoteFromProgram(f['quote-from'], reportData);
      return simQuote(pki!, td ? { td: { ...(mrTd ? { mrTd } : {}), ...(f.debug ? { debug: true } : {}), reportData } } : { report: { ...definedOf(identity), ...(f.debug ? { debug: true } : {}), reportData } });
    }, result, f.out);
  } catch (e) {
    // Our own refusals (the error table's codes), the server's (its codes), and library errors with a code
    // (an HPKE key the server sent that is not a point): one result shape; anything else is a bug.
    if (!(e instanceof WardenError || e instanceof RemoteError)) throw e;
    result.ok = false;
    result.error = { code: e.code, message: e.message };
    if (f.json) io.out(JSON.stringify(result));
    else io.err(`warden client: refused: ${e.code}: ${e.message}`);
    return 1;
  }
  if (f.json) io.out(JSON.stringify(result));
  return 0;
}

async function attest(
  server: Server,
  o: { names: string[]; pinned: Buffer | undefined; io: Io; json: boolean },
  quoteFor: (reportData: Buffer) => Promise<Buffer>,
  result: ClientAttestJson,
  outDir: string | undefined,
): Promise<void> {
  const say = (line: string) => {
    if (!o.json) o.io.out(line);
  };

  // 1. The server's HPKE key: pinned, or trusted on first use (and said so).
  const keys = await requestJson(server, 'GET', '/v1/server-keys');
  if (keys.status !== 200) throw serverError(keys, 'GET /v1/server-keys');
  const body0 = keys.body as { hpke?: { publicKey?: unknown }; hpkeKeys?: Array<{ publicKey?: unknown }> };
  const current = Buffer.from(String(body0.hpke?.publicKey ?? ''), 'base64');
  const active = (body0.hpkeKeys ?? []).map((k) => Buffer.from(String(k.publicKey ?? ''), 'base64'));
  let serverKey: Buffer;
  if (o.pinned) {
    // A pinned key that is still in the server's ring (current or previous) is used and named.
    if (!current.equals(o.pinned) && !active.some((k) => k.equals(o.pinned!))) {
      throw new CliError('server_key_mismatch', `the server offers HPKE key ${current.toString('base64')}, and the pinned --server-key is not among its active keys`);
    }
    serverKey = o.pinned;
  } else {
    if (current.length !== 65) throw new CliError('bad_response', 'GET /v1/server-keys: no 65-byte HPKE public key');
    serverKey = current;
    o.io.err(`warden client: trusted the server's HPKE key on first use: ${current.toString('base64')} (pin it with --server-key)`);
  }

  // 2. A challenge, and a fresh key pair bound to it in the quote's report data.
  const ch = await requestJson(server, 'POST', '/v1/challenge');
  if (ch.status !== 200) throw serverError(ch, 'POST /v1/challenge');
  const nonceText = String((ch.body as { nonce?: unknown }).nonce ?? '');
  const nonce = Buffer.from(nonceText, 'base64');
  const ephemeral = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pkE = publicKeyBytes(ephemeral.publicKey);
  const reportData = expectedReportData(nonce, pkE);
  const quote = await quoteFor(reportData);

  // 3. Attest.
  // Naming the key (serverKeyId) makes the server seal with the one this client opens with, even across a rotation.
  const r = await requestJson(server, 'POST', '/v1/attest', {
    nonce: nonceText,
    quote: quote.toString('base64'),
    publicKey: pkE.toString('base64'),
    secrets: o.names,
    serverKeyId: serverKeyId(serverKey),
  });
  if (r.status !== 200) {
    const err = serverError(r, 'POST /v1/attest');
    const checks = (r.body as { error?: { checks?: unknown } }).error?.checks;
    if (Array.isArray(checks) && checks.length) throw new RemoteError(err.code, `${err.message}; failed checks: ${checks.join(', ')}`);
    throw err;
  }
  const body = r.body as { token: string; secrets: Array<{ name: string; version: number; enc: string; ciphertext: string }>; policy: string; tcbStatus: string };
  result.policy = body.policy;
  result.tcbStatus = body.tcbStatus;

  // 4. Open each secret: Auth mode, so only the holder of the server's (pinned) key can have sealed it.
  const opened: Array<{ name: string; version: number; value: Buffer }> = [];
  for (const s of body.secrets) {
    try {
      const value = openSecret({
        recipientPrivateKey: ephemeral.privateKey,
        senderPublicKey: serverKey,
        name: s.name,
        nonce,
        enc: Buffer.from(s.enc, 'base64'),
        ciphertext: Buffer.from(s.ciphertext, 'base64'),
      });
      opened.push({ name: s.name, version: s.version, value });
    } catch {
      throw new CliError('hpke_open_failed', `secret ${s.name} version ${s.version} does not open with the ${o.pinned ? 'pinned' : "server's"} HPKE key`);
    }
  }

  // 5. The token: signed by a key of the server's JWKS, for this nonce.
  const jwksRes = await requestJson(server, 'GET', '/.well-known/jwks.json');
  if (jwksRes.status !== 200) throw serverError(jwksRes, 'GET /.well-known/jwks.json');
  let token: { header: Record<string, unknown>; claims: Record<string, unknown> };
  try {
    token = verifyJwtEs256(body.token, jwksRes.body as Jwks);
  } catch (e) {
    throw new CliError('token_invalid', `the result token does not verify against the server's JWKS: ${(e as Error).message}`);
  }
  if (token.claims['eat_nonce'] !== nonceText) throw new CliError('token_invalid', 'the result token is for another nonce');
  result.token = token;

  result.secrets = opened.map((s) => ({ name: s.name, version: s.version, sha256: crypto.createHash('sha256').update(s.value).digest('hex') }));
  result.ok = true;

  if (outDir !== undefined) {
    const newest = new Map<string, number>();
    for (const s of opened) newest.set(s.name, Math.max(newest.get(s.name) ?? 0, s.version));
    writeOut(outDir, [
      ...opened.map((s) => ({ name: newest.get(s.name) === s.version ? s.name : `${s.name}.v${s.version}`, data: s.value })),
      { name: 'token.jwt', data: body.token + '\n' },
    ]);
  }
  for (const s of result.secrets) {
    const len = opened.find((x) => x.name === s.name && x.version === s.version)!.value.length;
    say(`released: ${s.name} version ${s.version} (${len} bytes, sha256 ${s.sha256})`);
  }
  // One submodule: 'sgx-enclave' for an enclave, 'tdx' for a TD.
  const submods = token.claims['submods'] as Record<string, Record<string, unknown>> | undefined;
  const sub = submods?.['sgx-enclave'] ?? submods?.['tdx'];
  say(`policy ${body.policy}; TCB status ${body.tcbStatus}; ear.status ${String(sub?.['ear.status'] ?? '?')}; root ${String(token.claims['warden.root'] ?? '?')}`);
  say(`token: verified against the server's JWKS (kid ${String(token.header['kid'])}), expires ${new Date(Number(token.claims['exp']) * 1000).toISOString()}`);
  say(outDir !== undefined ? `values written to ${outDir}/ (mode 0600)` : 'values not written (give --out DIR to write them, mode 0600)');
}
