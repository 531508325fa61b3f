import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadMasterKey } from '../src/secrets/master-key.ts';
import { WardenError } from '../src/protocol/errors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-mk-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const isCode = (c: string) => (e: unknown) => e instanceof WardenError && e.code === c;

test('dev mode generates a 0600 key once, with a loud warning, and reuses it', () => {
  const warnings: string[] = [];
  const dataDir = path.join(dir, 'dev');
  const k1 = loadMasterKey({ dev: true, dataDir, warn: (m) => warnings.push(m) });
  assert.equal(k1.length, 32);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /DEVELOPMENT MODE/);
  assert.ok(!warnings[0]!.includes(k1.toString('hex')), 'the warning must not show the key');
  assert.equal(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
  const k2 = loadMasterKey({ dev: true, dataDir, warn: (m) => warnings.push(m) });
  assert.deepEqual(k2, k1);
  assert.equal(warnings.length, 1);
});

test('without dev mode a missing key is a clear error', () => {
  assert.throws(() => loadMasterKey({ dev: false, dataDir: path.join(dir, 'none'), warn: () => {} }), isCode('master_key_missing'));
  assert.ok(!fs.existsSync(path.join(dir, 'none', 'master.key')));
  assert.throws(() => loadMasterKey({ file: path.join(dir, 'nope'), dev: false, dataDir: dir, warn: () => {} }), isCode('master_key_missing'));
  assert.throws(() => loadMasterKey({ env: 'WARDEN_TEST_UNSET_VAR', dev: false, dataDir: dir, warn: () => {} }), isCode('master_key_missing'));
});

test('keys load from a file (hex, base64 or raw) and from an environment variable', () => {
  const key = crypto.randomBytes(32);
  const warn: string[] = [];
  for (const [name, content] of [
    ['hex', key.toString('hex') + '\n'],
    ['b64', key.toString('base64')],
    ['raw', key],
  ] as const) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content, { mode: 0o600 });
    assert.deepEqual(loadMasterKey({ file: f, dev: false, dataDir: dir, warn: (m) => warn.push(m) }), key);
  }
  assert.equal(warn.length, 0);
  const loose = path.join(dir, 'loose');
  fs.writeFileSync(loose, key.toString('hex'), { mode: 0o644 });
  fs.chmodSync(loose, 0o644);
  // A key file others can read is refused (issue #14 finding 8), unless the operator says so explicitly.
  let refusal = '';
  assert.throws(
    () => loadMasterKey({ file: loose, dev: false, dataDir: dir, warn: (m) => warn.push(m) }),
    (e: unknown) => isCode('key_file_insecure')(e) && ((refusal = (e as Error).message), true),
  );
  assert.match(refusal, /mode 0644.*chmod 600.*--allow-insecure-key-permissions/);
  for (const mode of [0o640, 0o604, 0o620]) {
    fs.chmodSync(loose, mode);
    assert.throws(() => loadMasterKey({ file: loose, dev: false, dataDir: dir, warn: () => {} }), isCode('key_file_insecure'), mode.toString(8));
  }
  assert.equal(warn.length, 0);
  assert.deepEqual(loadMasterKey({ file: loose, dev: false, dataDir: dir, warn: (m) => warn.push(m), allowInsecurePermissions: true }), key);
  assert.match(warn[0] ?? '', /accessible to other users.*accepted because of --allow-insecure-key-permissions/);

  process.env['WARDEN_TEST_MK'] = key.toString('hex');
  assert.deepEqual(loadMasterKey({ env: 'WARDEN_TEST_MK', dev: false, dataDir: dir, warn: () => {} }), key);
  process.env['WARDEN_TEST_MK'] = 'too-short';
  let message = '';
  assert.throws(
    () => loadMasterKey({ env: 'WARDEN_TEST_MK', dev: false, dataDir: dir, warn: () => {} }),
    (e: unknown) => isCode('master_key_invalid')(e) && ((message = (e as Error).message), true),
  );
  assert.ok(!message.includes('too-short'), 'error messages do not echo key material');
  delete process.env['WARDEN_TEST_MK'];
});
