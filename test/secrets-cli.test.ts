// The secret, admin and audit commands, run through the real `warden` dispatcher on a temp data dir.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { main } from '../src/cli/main.ts';
import { openContext } from '../src/cli/context.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const mkFile = path.join(dir, 'master.key');
fs.writeFileSync(mkFile, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
const dataDir = path.join(dir, 'data');
const common = ['--data', dataDir, '--master-key-file', mkFile];

async function warden(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('secret create / list / rotate / export-image-key / delete', async () => {
  let r = await warden('secret', 'create', 'fs-key', ...common);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /fs-key version 1 \(sefs-key\)/);

  const valueFile = path.join(dir, 'value.bin');
  fs.writeFileSync(valueFile, 'api-password-1234567890');
  r = await warden('secret', 'create', 'api', '--kind', 'bytes', '--from', valueFile, ...common);
  assert.equal(r.code, 0, r.err);

  r = await warden('secret', 'list', '--json', ...common);
  assert.equal(r.code, 0, r.err);
  const list = (JSON.parse(r.out) as { secrets: Array<{ name: string; version: number; kind: string }> }).secrets;
  assert.deepEqual(list.map((m) => [m.name, m.kind, m.version]), [['api', 'bytes', 1], ['fs-key', 'sefs-key', 1]]);
  assert.ok(!r.out.includes('api-password'));

  const keyFile = path.join(dir, 'image_key');
  r = await warden('secret', 'export-image-key', 'fs-key', '--out', keyFile, ...common);
  assert.equal(r.code, 0, r.err);
  const text = fs.readFileSync(keyFile, 'utf8');
  assert.match(text, /^[0-9a-f]{2}(-[0-9a-f]{2}){15}\n$/);
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
  const ctx = await openContext({ data: dataDir, 'master-key-file': mkFile });
  const v1 = (await ctx.secrets.get('fs-key'))!.value;
  assert.equal(text, [...v1].map((b) => b.toString(16).padStart(2, '0')).join('-') + '\n');
  await ctx.close();
  r = await warden('secret', 'export-image-key', 'fs-key', '--out', keyFile, ...common);
  assert.equal(r.code, 1, 'refuses to overwrite (exit 1: already exists)');
  r = await warden('secret', 'export-image-key', 'api', '--out', path.join(dir, 'other'), ...common);
  assert.equal(r.code, 1);
  assert.match(r.err, /not a sefs-key/);

  // An operator-made key file (occlum gen-image-key format) imports as the same 16 bytes.
  r = await warden('secret', 'create', 'imported', '--from', keyFile, ...common);
  assert.equal(r.code, 0, r.err);
  const ctx2 = await openContext({ data: dataDir, 'master-key-file': mkFile });
  assert.deepEqual((await ctx2.secrets.get('imported'))!.value, v1);
  await ctx2.close();

  r = await warden('secret', 'rotate', 'fs-key', ...common);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /version 2/);
  const ctx3 = await openContext({ data: dataDir, 'master-key-file': mkFile });
  assert.deepEqual((await ctx3.secrets.releasable('fs-key')).map((x) => x.meta.version), [2, 1]);
  await ctx3.close();
  r = await warden('secret', 'finish-rotation', 'fs-key', ...common);
  assert.equal(r.code, 0);

  r = await warden('secret', 'delete', 'imported', ...common);
  assert.equal(r.code, 0);
  r = await warden('secret', 'delete', 'imported', ...common);
  assert.equal(r.code, 1);
  assert.match(r.err, /secret_not_found/);

  r = await warden('secret', 'create', 'Bad Name', ...common);
  assert.equal(r.code, 1);
  assert.match(r.err, /invalid_secret_name/);
  r = await warden('secret', 'create', 'x', '--kind', 'other', ...common);
  assert.equal(r.code, 2);
  r = await warden('secret', 'frobnicate', ...common);
  assert.equal(r.code, 2);
});

test('without a master key the commands that need one fail with a clear message', async () => {
  const r = await warden('secret', 'create', 'k', '--data', path.join(dir, 'nokey'));
  assert.equal(r.code, 1);
  assert.match(r.err, /no master key: pass --master-key-file/);
  // Nothing is left behind by a command that could not run: no new database, no new directory.
  assert.equal(fs.existsSync(path.join(dir, 'nokey')), false, 'secret create without a key created a data directory');
  const unreadable = await warden('secret', 'create', 'k', '--data', path.join(dir, 'nokey'), '--master-key-file', path.join(dir, 'no-such.key'));
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.err, /cannot read master key file/);
  assert.equal(fs.existsSync(path.join(dir, 'nokey')), false);
  const wrong = path.join(dir, 'wrong.key');
  fs.writeFileSync(wrong, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  const r2 = await warden('secret', 'rotate', 'fs-key', '--data', dataDir, '--master-key-file', wrong);
  assert.equal(r2.code, 1);
  assert.match(r2.err, /master_key_mismatch/);
});

test('admin tokens and the audit trail of CLI actions', async () => {
  let r = await warden('admin', 'token', 'create', '--role', 'auditor', '--label', 'ci', ...common);
  assert.equal(r.code, 0, r.err);
  const token = r.out.trim();
  assert.match(token, /^wdn_[0-9a-f]{16}_/);
  const ctx = await openContext({ data: dataDir });
  const who = await ctx.tokens.verify(token);
  assert.equal(who?.role, 'auditor');
  await ctx.close();
  r = await warden('admin', 'token', 'list', '--json', ...common);
  // The secret part is base64url and may itself hold '_': take everything after the id.
  assert.ok(!r.out.includes(token.slice('wdn_'.length + 17)), 'token list never shows tokens');
  r = await warden('admin', 'token', 'revoke', who!.id, ...common);
  assert.equal(r.code, 0);
  r = await warden('admin', 'token', 'create', '--role', 'root', ...common);
  assert.equal(r.code, 2);

  r = await warden('admin', 'keys', 'show', '--json', ...common);
  assert.equal(r.code, 0, r.err);
  const keys = JSON.parse(r.out) as { hpke: { publicKey: string } };
  assert.equal(Buffer.from(keys.hpke.publicKey, 'base64').length, 65);

  r = await warden('audit', 'verify', '--json', '--data', dataDir);
  assert.equal(r.code, 0, r.out);
  const v = JSON.parse(r.out) as { ok: boolean; count: number };
  assert.equal(v.ok, true);
  assert.ok(v.count >= 8);
  r = await warden('audit', 'list', '--type', 'admin', '--json', '--data', dataDir);
  const entries = (JSON.parse(r.out) as { entries: Array<{ actor: string; data: { action: string; name?: string } }> }).entries;
  assert.deepEqual(
    entries.filter((e) => e.data.action === 'secret.create').map((e) => e.data.name),
    ['fs-key', 'api', 'imported'],
  );
  assert.ok(entries.every((e) => e.actor.startsWith('cli:')));

  // Edit one entry behind Warden's back: verify names it and exits 1.
  const c2 = await openContext({ data: dataDir });
  await c2.engine.run(`UPDATE audit SET outcome = 'denied' WHERE id = 2`);
  await c2.close();
  r = await warden('audit', 'verify', '--data', dataDir);
  assert.equal(r.code, 1);
  assert.match(r.out, /first bad entry 2/);
});

test('no secret value or master key appears in the database files', async () => {
  const ctx = await openContext({ data: dataDir, 'master-key-file': mkFile });
  const values: Buffer[] = [];
  for (const m of await (await ctx.secrets.list())) for (const v of await (await ctx.secrets.versions(m.name))) values.push((await (await ctx.secrets.get(m.name, v.version)))!.value);
  const mk = ctx.masterKey;
  await ctx.close();
  const bytes = Buffer.concat(fs.readdirSync(dataDir).map((f) => fs.readFileSync(path.join(dataDir, f))));
  for (const v of [...values, mk, Buffer.from(mk.toString('hex'))]) {
    assert.equal(bytes.indexOf(v), -1);
    assert.equal(bytes.indexOf(v.toString('hex')), -1);
  }
});

test('the installed binary runs export-image-key end to end', async () => {
  const out = path.join(dir, 'bin_key');
  execFileSync(process.execPath, ['bin/warden.js', 'secret', 'export-image-key', 'fs-key', '--out', out, ...common], { stdio: 'pipe' });
  assert.match(fs.readFileSync(out, 'utf8'), /^[0-9a-f]{2}(-[0-9a-f]{2}){15}\n$/);
});

test('admin master-key generate writes a usable 0600 key and never replaces one', async () => {
  const out = path.join(dir, 'gen', 'mk');
  let r = await warden('admin', 'master-key', 'generate', '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  const before = fs.readFileSync(out);
  r = await warden('admin', 'master-key', 'generate', '--out', out);
  assert.equal(r.code, 1, '"already exists" is a refusal (exit 1), not a usage error');
  assert.match(r.err, /already exists/);
  assert.deepEqual(fs.readFileSync(out), before);
  r = await warden('secret', 'create', 'x', '--data', path.join(dir, 'gen', 'data'), '--master-key-file', out);
  assert.equal(r.code, 0, r.err);
});

test('admin keys rotate: new HPKE key with the previous one kept until retired, new token key with the old one kept public', async () => {
  type View = { hpke: { publicKey: string; serverKeyId: string }; hpkeKeys: Array<{ serverKeyId: string; current: boolean }>; tokenKeys: Array<{ kid: string; current: boolean }> };
  const show = async () => JSON.parse((await warden('admin', 'keys', 'show', '--json', ...common)).out) as View;
  const a = await show();
  const rotated = await warden('admin', 'keys', 'rotate', '--hpke', ...common);
  assert.equal(rotated.code, 0, rotated.err);
  assert.match(rotated.out, new RegExp(`warden admin keys retire ${a.hpke.serverKeyId}`));
  const b = await show();
  assert.notEqual(b.hpke.publicKey, a.hpke.publicKey);
  assert.deepEqual(b.hpkeKeys.map((k) => [k.serverKeyId, k.current]), [[b.hpke.serverKeyId, true], ...a.hpkeKeys.map((k) => [k.serverKeyId, false])]);
  // The current key cannot be retired; the previous one can, once.
  assert.equal((await warden('admin', 'keys', 'retire', b.hpke.serverKeyId, ...common)).code, 1);
  assert.equal((await warden('admin', 'keys', 'retire', 'nothex', ...common)).code, 2);
  const retired = await warden('admin', 'keys', 'retire', a.hpke.serverKeyId, ...common);
  assert.equal(retired.code, 0, retired.err);
  assert.equal((await warden('admin', 'keys', 'retire', a.hpke.serverKeyId, ...common)).code, 1);
  assert.deepEqual((await show()).hpkeKeys.map((k) => k.serverKeyId), b.hpkeKeys.filter((k) => k.current).map((k) => k.serverKeyId).concat(b.hpkeKeys.filter((k) => !k.current && k.serverKeyId !== a.hpke.serverKeyId).map((k) => k.serverKeyId)));
  assert.equal((await warden('admin', 'keys', 'rotate', '--token', ...common)).code, 0);
  const c = await show();
  assert.equal(c.tokenKeys.length, a.tokenKeys.length + 1);
  assert.ok(c.tokenKeys.some((k) => k.kid === a.tokenKeys[0]!.kid && !k.current));
  assert.equal((await warden('admin', 'keys', 'rotate', ...common)).code, 2);
});

test('--dev: the built-in demo secret cannot be created, and a stored one of its name is listed once', async () => {
  const devData = path.join(dir, 'dev-data');
  const dev = ['--data', devData, '--dev'];
  let r = await warden('secret', 'create', 'other', ...dev);
  assert.equal(r.code, 0, r.err);
  r = await warden('secret', 'list', ...dev);
  assert.match(r.out, /^demo-sefs-key .*built into serve --dev only/m);
  // As the admin API of serve --dev answers: it exists already (exit 1).
  r = await warden('secret', 'create', 'demo-sefs-key', ...dev);
  assert.equal(r.code, 1);
  assert.match(r.err, /built into --dev.*\[secret_exists\]/);
  // Stored without --dev (with the same key), it is the one serve --dev releases: one row, no built-in.
  r = await warden('secret', 'create', 'demo-sefs-key', '--data', devData, '--master-key-file', path.join(devData, 'master.key'));
  assert.equal(r.code, 0, r.err);
  r = await warden('secret', 'list', ...dev);
  assert.equal(r.out.split('\n').filter((l) => l.startsWith('demo-sefs-key ')).length, 1, r.out);
  assert.doesNotMatch(r.out, /built into serve --dev only/);
  const j = JSON.parse((await warden('secret', 'list', '--json', ...dev)).out) as { secrets: Array<{ name: string }>; devBuiltIn: unknown[] };
  assert.deepEqual(j.devBuiltIn, []);
  assert.deepEqual(j.secrets.map((s) => s.name), ['demo-sefs-key', 'other']);
});
