import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { AdminTokens } from '../src/store/admin-tokens.ts';
import { StoreError } from '../src/store/errors.ts';
import { bothEngines } from './helpers/engines.ts';

bothEngines('tokens verify with their role; wrong, altered and revoked tokens do not', async (h) => {
  const tokens = new AdminTokens(await h.engine());
  const admin = await tokens.create('admin', 'ops');
  const auditor = await tokens.create('auditor');
  assert.deepEqual(await tokens.verify(admin.token), { id: admin.id, role: 'admin' });
  assert.deepEqual(await tokens.verify(auditor.token), { id: auditor.id, role: 'auditor' });
  const altered = admin.token.slice(0, -1) + (admin.token.endsWith('A') ? 'B' : 'A');
  for (const bad of ['', 'Bearer x', altered, admin.token + 'x', `wdn_${auditor.id}_${admin.token.split('_').slice(2).join('_')}`, 'x'.repeat(10_000)]) {
    assert.equal(await tokens.verify(bad), null, bad.slice(0, 40));
  }
  assert.equal(await tokens.revoke(admin.id), true);
  assert.equal(await tokens.revoke(admin.id), false);
  assert.equal(await tokens.verify(admin.token), null);
  await assert.rejects(tokens.revoke('nope'), (e: unknown) => e instanceof StoreError && e.code === 'token_not_found');
  await assert.rejects(tokens.create('root' as 'admin'), (e: unknown) => e instanceof StoreError && e.code === 'invalid_role');
  const listed = await tokens.list();
  assert.deepEqual(listed.map((t) => [t.id, t.role, t.label, Boolean(t.revokedAt)]).sort(), [
    [admin.id, 'admin', 'ops', true],
    [auditor.id, 'auditor', undefined, false],
  ].sort());
});

bothEngines('only a SHA-256 hash of each token is stored', async (h) => {
  const engine = await h.engine();
  const tokens = new AdminTokens(engine);
  const { token, id } = await tokens.create('admin');
  const rows = await engine.all<Record<string, unknown>>(`SELECT * FROM admin_tokens`);
  const dump = rows.map((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v))).join('|')).join('\n');
  const secretPart = token.split('_')[2]!;
  assert.ok(!dump.includes(secretPart), 'token secret is stored');
  assert.ok(!dump.includes(Buffer.from(secretPart, 'base64url').toString('hex')));
  const row = rows[0]!;
  assert.deepEqual(row['hash'], crypto.createHash('sha256').update(token).digest());
  assert.equal(row['id'], id);
});
