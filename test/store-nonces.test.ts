import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/db.ts';
import { NonceStore } from '../src/store/nonces.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-nonces-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a nonce is 32 random bytes, single use, and unknown nonces are reported', () => {
  const db = openDatabase(path.join(dir, 'a.db'));
  const nonces = new NonceStore(db);
  const now = new Date('2026-01-01T00:00:00Z');
  const { nonce, expiresAt } = nonces.issue(120_000, now);
  assert.equal(nonce.length, 32);
  assert.equal(expiresAt.toISOString(), '2026-01-01T00:02:00.000Z');
  assert.notDeepEqual(nonces.issue(120_000, now).nonce, nonce);
  assert.equal(nonces.consume(nonce, now), 'ok');
  assert.equal(nonces.consume(nonce, now), 'used');
  assert.equal(nonces.consume(Buffer.alloc(32, 7), now), 'unknown');
  assert.equal(nonces.consume(Buffer.alloc(5), now), 'unknown');
  db.close();
});

test('a nonce is expired exactly when now >= expiresAt, and an expired nonce is never accepted', () => {
  const db = openDatabase(path.join(dir, 'b.db'));
  const nonces = new NonceStore(db);
  const t0 = new Date('2026-01-01T00:00:00Z');
  const a = nonces.issue(1000, t0);
  assert.equal(nonces.consume(a.nonce, new Date(t0.getTime() + 999)), 'ok');
  const b = nonces.issue(1000, t0);
  assert.equal(nonces.consume(b.nonce, new Date(t0.getTime() + 1000)), 'expired');
  assert.equal(nonces.consume(b.nonce, new Date(t0.getTime() + 500)), 'ok', 'an expired check does not consume');
  const c = nonces.issue(1000, t0);
  assert.equal(nonces.consume(c.nonce, new Date(t0.getTime() + 5000)), 'expired');
  assert.equal(nonces.consume(c.nonce, new Date(t0.getTime() + 5000)), 'expired');
  db.close();
});

test('two uses of one nonce in the same tick give exactly one ok', async () => {
  const db = openDatabase(path.join(dir, 'c.db'));
  const nonces = new NonceStore(db);
  const { nonce } = nonces.issue();
  const results = await Promise.all([Promise.resolve().then(() => nonces.consume(nonce)), Promise.resolve().then(() => nonces.consume(nonce))]);
  assert.deepEqual(results.sort(), ['ok', 'used']);
  db.close();
});

test('two database connections racing on the same nonces: exactly one ok each', async () => {
  const file = path.join(dir, 'd.db');
  const db1 = openDatabase(file);
  const db2 = openDatabase(file);
  const s1 = new NonceStore(db1);
  const s2 = new NonceStore(db2);
  const issued = Array.from({ length: 50 }, (_, i) => (i % 2 ? s1 : s2).issue().nonce);
  const results = await Promise.all(
    issued.flatMap((n) => [Promise.resolve().then(() => s1.consume(n)), Promise.resolve().then(() => s2.consume(n))]),
  );
  for (let i = 0; i < issued.length; i++) {
    assert.deepEqual([results[2 * i], results[2 * i + 1]].sort(), ['ok', 'used']);
  }
  db1.close();
  db2.close();
});

test('two processes racing on the same nonces: exactly one ok each', async () => {
  const { spawn } = await import('node:child_process');
  const file = path.join(dir, 'e.db');
  const db = openDatabase(file);
  const store = new NonceStore(db);
  const issued = Array.from({ length: 40 }, () => store.issue().nonce.toString('hex'));
  db.close();
  const script = `
    import { openDatabase } from ${JSON.stringify(path.resolve('src/store/db.ts'))};
    import { NonceStore } from ${JSON.stringify(path.resolve('src/store/nonces.ts'))};
    const s = new NonceStore(openDatabase(process.argv[1]));
    const out = ${JSON.stringify(issued)}.map((h) => s.consume(Buffer.from(h, 'hex')));
    process.stdout.write(JSON.stringify(out));`;
  const run = () =>
    new Promise<string[]>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`child exited ${code}`))));
    });
  const [a, b] = await Promise.all([run(), run()]);
  for (let i = 0; i < issued.length; i++) assert.deepEqual([a[i], b[i]].sort(), ['ok', 'used'], `nonce ${i}`);
});

test('purge drops nonces long past expiry only', () => {
  const db = openDatabase(path.join(dir, 'f.db'));
  const nonces = new NonceStore(db);
  const t0 = new Date('2026-01-01T00:00:00Z');
  const old = nonces.issue(1000, t0);
  const fresh = nonces.issue(1000, new Date(t0.getTime() + 48 * 3600_000));
  assert.equal(nonces.purge(new Date(t0.getTime() + 48 * 3600_000)), 1);
  assert.equal(nonces.consume(old.nonce, t0), 'unknown');
  assert.equal(nonces.consume(fresh.nonce, new Date(t0.getTime() + 48 * 3600_000)), 'ok');
  db.close();
});
