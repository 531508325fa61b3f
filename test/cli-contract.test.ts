// One CLI contract for every command (issue 13, the newcomer's walk-through): help at every level on
// stdout with exit 0, --version, `warden help CMD`, one-line usage errors with a did-you-mean, exit 1 for
// refusals including "already exists", --json or a clear refusal, WARDEN_DATA, read-only commands that
// never create state, and master_key_mismatch naming both fingerprints.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../src/cli/main.ts';
import { SERVE_FLAGS } from '../src/cli/config.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-contract-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The names a help text lists under "commands:" or "sub-commands:". */
function listed(help: string, heading: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() === '') break;
    const m = /^ {2}(\S+(?: \S+)?)(?= {2})/.exec(l);
    if (m) out.push(m[1]!); // else: a wrapped summary line
  }
  return out;
}

test('-h and --help work at every level: usage on stdout, exit 0, the same as `warden help ...`', async () => {
  const top = await cli('--help');
  assert.equal(top.code, 0);
  assert.match(top.out, /^usage: warden <command>/);
  assert.equal(top.err, '');
  const commands = listed(top.out, 'commands:').filter((c) => !c.startsWith('help'));
  assert.ok(commands.length >= 11, top.out);
  let visited = 0;
  const visit = async (words: string[]): Promise<void> => {
    for (const flag of ['--help', '-h']) {
      const r = await cli(...words, flag);
      assert.equal(r.code, 0, `${words.join(' ')} ${flag}: ${r.err}`);
      assert.equal(r.err, '', `${words.join(' ')} ${flag} writes nothing on stderr`);
      assert.match(r.out, new RegExp(`^usage: warden ${words[0]}`), `${words.join(' ')} ${flag}`);
      assert.match(r.out, /-h, --help|--help' lists/, 'the help says how to get more help');
    }
    const viaHelp = await cli('help', ...words);
    assert.equal(viaHelp.code, 0);
    assert.equal(viaHelp.out, (await cli(...words, '--help')).out, `warden help ${words.join(' ')}`);
    visited++;
    const r = await cli(...words, '--help');
    for (const sub of listed(r.out, 'sub-commands:')) {
      const subWords = sub.split(' ');
      // 'admin' lists 'token create'; 'admin token' lists 'create'.
      await visit(subWords.length > 1 ? [words[0]!, ...subWords] : [...words, ...subWords]);
    }
  };
  for (const c of commands) await visit([c]);
  assert.ok(visited >= 35, `visited ${visited} help pages`);
  // --help after other flags, and `warden help` alone.
  assert.equal((await cli('secret', 'create', 'x', '--kind', 'bytes', '--help')).code, 0);
  assert.equal((await cli('help')).code, 0);
});

test("serve's help lists every flag it parses, with its default", async () => {
  const r = await cli('serve', '--help');
  assert.equal(r.code, 0);
  for (const flag of Object.keys(SERVE_FLAGS)) assert.match(r.out, new RegExp(`--${flag}\\b`), `--${flag}`);
  assert.match(r.out, /default 8443/);
  assert.match(r.out, /SIGHUP/);
});

test('--version prints the package version; a bare `warden` is a usage error', async () => {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await cli('--version');
  assert.equal(r.code, 0);
  assert.equal(r.out, `warden ${pkg.version}`);
  const bare = await cli();
  assert.equal(bare.code, 2);
  assert.match(bare.err, /^usage: warden/);
});

test('an unknown flag, command or sub-command is one line with a did-you-mean, exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['policy', 'test', '--jsn'], /^warden policy: unknown option '--jsn' \(did you mean --json\?\)$/],
    [['serve', '--prot', '1'], /unknown option '--prot' \(did you mean --port\?\)/],
    [['secret', 'lst'], /unknown sub-command 'lst' \(did you mean list\?\)/],
    [['sevre'], /unknown command 'sevre' \(did you mean serve\?\)/],
    [['verify', 'q.bin'], /unexpected argument 'q\.bin'/],
    [['client', 'attest', '--secret'], /option --secret needs a value/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.err.split('\n').length, 1, `one line: ${r.err}`);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /positional|ERR_PARSE_ARGS|at .*\.ts:/);
  }
});

test('--json is honoured by commands that print a result, and refused with a clear line elsewhere', async () => {
  const data = path.join(tmp, 'json');
  const mk = path.join(tmp, 'json.key');
  let r = await cli('admin', 'master-key', 'generate', '--out', mk, '--json');
  assert.equal(r.code, 0);
  assert.match(JSON.parse(r.out).fingerprint, /^[0-9a-f]{16}$/);
  const common = ['--data', data, '--master-key-file', mk, '--json'];
  for (const args of [
    ['secret', 'create', 's'],
    ['secret', 'rotate', 's'],
    ['secret', 'finish-rotation', 's'],
    ['secret', 'list'],
    ['admin', 'token', 'create', '--role', 'auditor'],
    ['admin', 'token', 'list'],
    ['admin', 'keys', 'show'],
    ['audit', 'list'],
    ['audit', 'verify'],
    ['secret', 'delete', 's'],
  ]) {
    r = await cli(...args, ...common);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.equal(JSON.parse(r.out).ok, true, args.join(' '));
  }
  // A refusal with --json is a JSON object too.
  r = await cli('secret', 'rotate', 'missing', ...common);
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.out).error.code, 'secret_not_found');
  for (const args of [['serve', '--json'], ['sim', 'pccs', '--port', '0', '--json'], ['collateral', 'fetch', '--json']]) {
    r = await cli(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /does not support --json/);
  }
});

test('"already exists" is exit 1 everywhere, with one line', async () => {
  const dir = path.join(tmp, 'exists');
  const mk = path.join(dir, 'mk');
  assert.equal((await cli('admin', 'master-key', 'generate', '--out', mk)).code, 0);
  const common = ['--data', path.join(dir, 'data'), '--master-key-file', mk];
  assert.equal((await cli('secret', 'create', 'k', ...common)).code, 0);
  assert.equal((await cli('secret', 'export-image-key', 'k', '--out', path.join(dir, 'ik'), ...common)).code, 0);
  assert.equal((await cli('certs', 'init', '--dir', path.join(dir, 'certs'))).code, 0);
  assert.equal((await cli('sim', 'init', '--out', path.join(dir, 'pki'))).code, 0);
  for (const args of [
    ['secret', 'create', 'k', ...common],
    ['secret', 'export-image-key', 'k', '--out', path.join(dir, 'ik'), ...common],
    ['admin', 'master-key', 'generate', '--out', mk],
    ['certs', 'init', '--dir', path.join(dir, 'certs')],
    ['sim', 'init', '--out', path.join(dir, 'pki')],
  ]) {
    const r = await cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /already (exists|holds)/);
    assert.equal(r.err.split('\n').length, 1);
  }
});

test('certs init --hosts adds names to localhost and 127.0.0.1 instead of dropping them', async () => {
  const dir = path.join(tmp, 'hosts');
  const r = await cli('certs', 'init', '--dir', dir, '--hosts', 'warden.internal,10.0.0.5', '--json');
  assert.equal(r.code, 0, r.err);
  const cert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'server.pem')));
  for (const h of ['warden.internal', 'localhost']) assert.ok(cert.checkHost(h), h);
  for (const ip of ['10.0.0.5', '127.0.0.1']) assert.ok(cert.checkIP(ip), ip);
});

test('WARDEN_DATA sets the data directory; read-only commands never create a database or a key', async () => {
  const data = path.join(tmp, 'env-data');
  const missing = path.join(tmp, 'nowhere');
  const saved = process.env['WARDEN_DATA'];
  try {
    process.env['WARDEN_DATA'] = data;
    const mk = path.join(tmp, 'env.key');
    assert.equal((await cli('admin', 'master-key', 'generate', '--out', mk)).code, 0);
    assert.equal((await cli('secret', 'create', 'from-env', '--master-key-file', mk)).code, 0);
    assert.ok(fs.existsSync(path.join(data, 'warden.db')), 'the database is in $WARDEN_DATA');
    const list = await cli('secret', 'list');
    assert.match(list.out, /from-env/);

    process.env['WARDEN_DATA'] = missing;
    for (const args of [
      ['audit', 'verify'],
      ['audit', 'list'],
      ['secret', 'list', '--dev'],
      ['secret', 'export-image-key', 'x', '--out', path.join(tmp, 'never'), '--dev'],
      ['admin', 'token', 'list'],
      ['admin', 'keys', 'show', '--dev'],
      ['collateral', 'status'],
      ['collateral', 'export', '--out', path.join(tmp, 'never')],
    ]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.out} ${r.err}`);
      assert.match(r.err, new RegExp(`no Warden database in ${missing.replace(/[/.]/g, '\\$&')}`), args.join(' '));
      assert.equal(fs.existsSync(missing), false, `${args.join(' ')} created ${missing}`);
    }
    assert.equal(fs.existsSync(path.join(tmp, 'never')), false);
  } finally {
    if (saved === undefined) delete process.env['WARDEN_DATA'];
    else process.env['WARDEN_DATA'] = saved;
  }
});

test('master_key_mismatch names the fingerprint the database expects and the one given, and the dev-key hint', async () => {
  const data = path.join(tmp, 'mm');
  // As `serve --dev` leaves it: a development key in DATA/master.key.
  assert.equal((await cli('secret', 'create', 'a', '--data', data, '--dev')).code, 0);
  const other = path.join(tmp, 'other.key');
  assert.equal((await cli('admin', 'master-key', 'generate', '--out', other)).code, 0);
  const devFp = (await cli('admin', 'master-key', 'fingerprint', '--data', data, '--dev')).out.trim();
  const otherFp = (await cli('admin', 'master-key', 'fingerprint', '--data', data, '--master-key-file', other)).out.trim();
  assert.match(devFp, /^[0-9a-f]{16}$/);
  assert.notEqual(devFp, otherFp);
  const r = await cli('secret', 'create', 'b', '--data', data, '--master-key-file', other);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`fingerprint ${otherFp}\\).*fingerprint ${devFp}\\)`));
  assert.match(r.err, /serve --dev.*master\.key: pass --dev, or use another --data DIR/);
  assert.match(r.err, /\[master_key_mismatch\]$/);
});

test('secret list shows every version, which are releasable and until when; the CLI finishes a rotation', async () => {
  const data = path.join(tmp, 'versions');
  const common = ['--data', data, '--dev'];
  assert.equal((await cli('secret', 'create', 'k', ...common)).code, 0);
  assert.equal((await cli('secret', 'rotate', 'k', ...common)).code, 0);
  assert.equal((await cli('secret', 'rotate', 'k', ...common)).code, 0);
  let r = await cli('secret', 'list', '--json', '--data', data);
  type V = { name: string; version: number; current: boolean; releasable: boolean; releasedUntil?: string };
  let versions = (JSON.parse(r.out) as { secrets: V[] }).secrets;
  assert.deepEqual(versions.map((v) => [v.version, v.current, v.releasable]), [[3, true, true], [2, false, true], [1, false, false]]);
  assert.ok(Date.parse(versions[1]!.releasedUntil!) > Date.now() + 6 * 86400_000, 'grace period about 7 days');
  r = await cli('secret', 'list', '--data', data);
  assert.match(r.out, /k\s+sefs-key\s+3\s+yes \(current\)/);
  assert.match(r.out, /k\s+sefs-key\s+2\s+until \d{4}-/);
  assert.match(r.out, /k\s+sefs-key\s+1\s+no/);
  r = await cli('secret', 'finish-rotation', 'k', ...common);
  assert.equal(r.code, 0);
  assert.match(r.out, /only the current version/);
  versions = (JSON.parse((await cli('secret', 'list', '--json', '--data', data)).out) as { secrets: V[] }).secrets;
  assert.deepEqual(versions.map((v) => v.releasable), [true, false, false]);
  r = await cli('secret', 'finish-rotation', 'nope', ...common);
  assert.equal(r.code, 1);
  assert.match(r.err, /secret_not_found/);
});

test('secret create --from a non-key file says to add --kind bytes', async () => {
  const file = path.join(tmp, 'password.txt');
  fs.writeFileSync(file, 'correct horse battery staple\n');
  const r = await cli('secret', 'create', 'pw', '--from', file, '--data', path.join(tmp, 'pw'), '--dev');
  assert.equal(r.code, 1);
  assert.match(r.err, /--kind bytes/);
  assert.doesNotMatch(r.err, /correct horse/);
});

test('sim enclave writes a signed ELF and a raw SIGSTRUCT that enclave inspect reads; --out writes a policy only on success', async () => {
  const dir = path.join(tmp, 'enclave');
  let r = await cli('sim', 'enclave', '--out', dir, '--mrenclave', 'ab'.repeat(32), '--isvprodid', '4', '--isvsvn', '7', '--json');
  assert.equal(r.code, 0, r.err);
  const made = JSON.parse(r.out);
  assert.equal(fs.statSync(path.join(dir, 'signing-key.pem')).mode & 0o777, 0o600);
  for (const file of [made.enclave, made.sigstruct]) {
    r = await cli('enclave', 'inspect', file, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.mrenclave, 'ab'.repeat(32));
    assert.equal(j.isvprodid, 4);
    assert.equal(j.isvsvn, 7);
    assert.equal(j.debugAllowed, false);
    assert.equal(j.signatureValid, true);
  }
  assert.match((await cli('enclave', 'inspect', made.enclave)).out, /SIGSTRUCT from \.note\.sgxmeta/);
  // Rebuilding into the same directory keeps the signer; --debug-allowed is recorded.
  const mrsigner = JSON.parse((await cli('enclave', 'inspect', made.sigstruct, '--json')).out).mrsigner;
  r = await cli('sim', 'enclave', '--out', dir, '--debug-allowed', '--json');
  const again = JSON.parse((await cli('enclave', 'inspect', JSON.parse(r.out).sigstruct, '--json')).out);
  assert.equal(again.mrsigner, mrsigner);
  assert.equal(again.debugAllowed, true);

  const policyFile = path.join(tmp, 'my-app.yaml');
  r = await cli('enclave', 'inspect', made.enclave, '--policy', 'my-app', '--out', policyFile);
  assert.equal(r.code, 0, r.err);
  assert.equal((await cli('policy', 'check', tmp)).code, 0, 'the written policy loads');
  r = await cli('enclave', 'inspect', made.enclave, '--policy', 'my-app', '--out', policyFile);
  assert.equal(r.code, 1, 'an existing policy file is not replaced');
  const kept = path.join(tmp, 'kept.yaml');
  fs.writeFileSync(kept, 'name: kept\n');
  fs.writeFileSync(path.join(tmp, 'not-an-enclave'), 'hello');
  r = await cli('enclave', 'inspect', path.join(tmp, 'not-an-enclave'), '--policy', 'kept', '--out', kept, '--force');
  assert.equal(r.code, 1);
  assert.equal(fs.readFileSync(kept, 'utf8'), 'name: kept\n', 'a failed inspect never empties the policy file');
  fs.rmSync(kept);
  fs.rmSync(policyFile);
  fs.rmSync(path.join(tmp, 'not-an-enclave'));
});
