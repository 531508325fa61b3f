// Nonces: self-authenticating (a MAC over expiry and a random value), issued without any database
// write, consumed exactly once across processes and replicas. The races here are real: two child
// processes, released together, consume the same nonces at once over their own connections.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { NonceStore, NONCE_BYTES } from '../src/store/nonces.ts';
import { bothEngines } from './helpers/engines.ts';

const mk = crypto.randomBytes(32);

test('a nonce is 32 bytes, carries its expiry under a MAC, and issuing touches no database', async () => {
  // No engine at all: issue() must not need one.
  const nonces = new NonceStore(null as never, mk);
  const now = new Date('2026-01-01T00:00:00Z');
  const { nonce, expiresAt } = nonces.issue(120_000, now);
  assert.equal(nonce.length, NONCE_BYTES);
  assert.equal(expiresAt.toISOString(), '2026-01-01T00:02:00.000Z');
  assert.notDeepEqual(nonces.issue(120_000, now).nonce, nonce);
  // Refused before any database work: wrong length, a flipped bit anywhere, another master key.
  for (const bad of [Buffer.alloc(5), Buffer.alloc(32, 7)]) assert.equal(await nonces.consume(bad, now), 'unknown');
  for (const i of [0, 5, 6, 15, 16, 31]) {
    const t = Buffer.from(nonce);
    t[i]! ^= 1;
    assert.equal(await nonces.consume(t, now), 'unknown', `bit flipped in byte ${i}`);
  }
  assert.equal(await new NonceStore(null as never, crypto.randomBytes(32)).consume(nonce, now), 'unknown');
  // Expired exactly when now >= expiresAt, decided from the MAC'd expiry alone.
  assert.equal(await nonces.consume(nonce, expiresAt), 'expired');
});

bothEngines('single use, expiry, and purge of expired consumed nonces', async (h) => {
  const engine = await h.engine();
  const nonces = new NonceStore(engine, mk);
  const t0 = new Date('2026-01-01T00:00:00Z');
  const a = nonces.issue(1000, t0);
  assert.equal(await nonces.consume(a.nonce, new Date(t0.getTime() + 999)), 'ok');
  assert.equal(await nonces.consume(a.nonce, new Date(t0.getTime() + 999)), 'used');
  const b = nonces.issue(1000, t0);
  assert.equal(await nonces.consume(b.nonce, new Date(t0.getTime() + 1000)), 'expired');
  assert.equal(await nonces.consume(b.nonce, new Date(t0.getTime() + 500)), 'ok', 'an expired check does not consume');
  // Another process with the same master key accepts what this one issued.
  const other = new NonceStore(await h.reopen(engine), mk);
  const c = nonces.issue(60_000, t0);
  assert.equal(await other.consume(c.nonce, t0), 'ok');
  assert.equal(await nonces.consume(c.nonce, t0), 'used');
  assert.equal(await nonces.stored(), 3);
  // Purge keeps what is still unexpired (a replay of it must still read 'used').
  assert.equal(await nonces.purge(new Date(t0.getTime() + 1000)), 2);
  assert.equal(await nonces.stored(), 1);
  assert.equal(await nonces.consume(c.nonce, t0), 'used');
  // After expiry a purged nonce is refused by its MAC'd expiry, never accepted again.
  assert.equal(await nonces.purge(new Date(t0.getTime() + 60_000)), 1);
  assert.equal(await nonces.consume(c.nonce, new Date(t0.getTime() + 60_000)), 'expired');
});

bothEngines('concurrent consumes of one nonce in one process give exactly one ok', async (h) => {
  const nonces = new NonceStore(await h.engine(), mk);
  const { nonce } = nonces.issue();
  const results = await Promise.all(Array.from({ length: 20 }, () => nonces.consume(nonce)));
  assert.deepEqual(results.sort(), ['ok', ...Array(19).fill('used')]);
});

const CHILD = `
  import { PostgresEngine } from ${JSON.stringify(path.resolve('src/store/postgres.ts'))};
  import { SqliteEngine } from ${JSON.stringify(path.resolve('src/store/sqlite.ts'))};
  import { NonceStore } from ${JSON.stringify(path.resolve('src/store/nonces.ts'))};
  const [where, key, list] = process.argv.slice(1);
  const engine = where.startsWith('postgres') ? new PostgresEngine(where) : new SqliteEngine(where);
  const s = new NonceStore(engine, Buffer.from(key, 'hex'));
  const nonces = JSON.parse(list).map((h) => Buffer.from(h, 'hex'));
  await engine.ping();
  process.stdout.write('ready\\n');
  // Released by the parent at the same moment as the other child: then every consume at once.
  process.stdin.once('data', async () => {
    const out = await Promise.all(nonces.map((n) => s.consume(n)));
    process.stdout.write(JSON.stringify(out) + '\\n');
    await engine.close();
  });`;

function child(where: string, list: string[]): { ready: Promise<void>; go(): void; result: Promise<string[]> } {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, where, mk.toString('hex'), JSON.stringify(list)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let readyFn!: () => void;
  const ready = new Promise<void>((r) => (readyFn = r));
  const result = new Promise<string[]>((resolve, reject) => {
    p.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) readyFn();
    });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}`));
      resolve(JSON.parse(out.slice('ready\n'.length)) as string[]);
    });
  });
  return { ready, go: () => p.stdin.end('go\n'), result };
}

bothEngines('two processes racing on the same 100 nonces: exactly one ok per nonce', async (h) => {
  const loc = await h.location();
  const issuer = new NonceStore(null as never, mk);
  const list = Array.from({ length: 100 }, () => issuer.issue(600_000).nonce.toString('hex'));
  const where = loc.url ?? loc.file;
  const a = child(where, list);
  const b = child(where, list);
  await Promise.all([a.ready, b.ready]);
  a.go();
  b.go();
  const [ra, rb] = await Promise.all([a.result, b.result]);
  for (let i = 0; i < list.length; i++) assert.deepEqual([ra[i], rb[i]].sort(), ['ok', 'used'], `nonce ${i}`);
});

bothEngines('consumes of one turn commit together, and each answers only once its row is committed', async (h) => {
  const engine = await h.engine();
  const nonces = new NonceStore(engine, mk);
  const other = await h.reopen(engine);
  const list = Array.from({ length: 30 }, () => nonces.issue().nonce);
  // Every consume of this turn, a repeat among them: one group, one 'ok' per nonce.
  const results = await Promise.all(
    [...list, list[3]!].map(async (n) => {
      const r = await nonces.consume(n);
      // Seen through another connection the moment the consume answers: committed, not just queued.
      const row = await other.get<{ n: number }>(`SELECT COUNT(*) AS n FROM consumed_nonces WHERE nonce = ?`, [Buffer.from(n)]);
      return { r, stored: Number(row?.n) };
    }),
  );
  assert.deepEqual(results.map((x) => x.r), [...Array(30).fill('ok'), 'used']);
  assert.ok(results.every((x) => x.stored === 1));
  await other.close();
});

test('random parts never repeat across refills of the random pool', () => {
  const nonces = new NonceStore(null as never, mk);
  const now = new Date('2026-01-01T00:00:00Z');
  // Same expiry for all: only the 10 random bytes differ. 2,000 nonces span several 4 KiB refills.
  const seen = new Set(Array.from({ length: 2000 }, () => nonces.issue(120_000, now).nonce.subarray(6, 16).toString('hex')));
  assert.equal(seen.size, 2000);
  assert.ok(![...seen].includes('00'.repeat(10)));
});

bothEngines('two processes consuming the same nonces in opposite orders: no deadlock, one ok per nonce', async (h) => {
  const loc = await h.location();
  const issuer = new NonceStore(null as never, mk);
  const list = Array.from({ length: 100 }, () => issuer.issue(600_000).nonce.toString('hex'));
  const where = loc.url ?? loc.file;
  // Each child's consumes form one group; in arrival order the two transactions would lock rows in opposite orders.
  const a = child(where, list);
  const b = child(where, [...list].reverse());
  await Promise.all([a.ready, b.ready]);
  a.go();
  b.go();
  const [ra, rb] = await Promise.all([a.result, b.result]);
  rb.reverse();
  for (let i = 0; i < list.length; i++) assert.deepEqual([ra[i], rb[i]].sort(), ['ok', 'used'], `nonce ${i}`);
});
