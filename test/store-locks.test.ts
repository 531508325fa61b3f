// One collateral refresh at a time across workers and replicas (issue #15 item 2): tryWithLock runs its
// body only in the process that got the lock; the others skip, and get it once it is released. On
// PostgreSQL the lock is a session advisory lock, so a replica that dies releases it with its connection.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PostgresEngine } from '../src/store/postgres.ts';
import { SqliteEngine } from '../src/store/sqlite.ts';
import { bothEngines } from './helpers/engines.ts';

bothEngines('a named lock is held by one connection at a time; the others skip and get it after', async (h) => {
  const a = await h.engine();
  const b = await h.reopen(a);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const first = a.tryWithLock('collateralRefresh', async () => {
    entered();
    await held;
    return 'a ran';
  });
  await inside;
  assert.equal(await b.tryWithLock('collateralRefresh', async () => 'b ran'), undefined, 'b skips while a holds the lock');
  assert.equal(await a.tryWithLock('collateralRefresh', async () => 'a again'), undefined, 'not re-entrant: one refresh at a time per process too');
  release();
  assert.equal(await first, 'a ran');
  assert.equal(await b.tryWithLock('collateralRefresh', async () => 'b ran'), 'b ran', 'released: b gets it');
  // A failing body releases the lock too.
  await assert.rejects(a.tryWithLock('collateralRefresh', async () => Promise.reject(new Error('refresh failed'))), /refresh failed/);
  assert.equal(await b.tryWithLock('collateralRefresh', async () => 'b after a failure'), 'b after a failure');
});

bothEngines('a process killed while holding the lock', async (h) => {
  const loc = await h.location();
  const engineFile = path.resolve(h.kind === 'postgres' ? 'src/store/postgres.ts' : 'src/store/sqlite.ts');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { ${h.kind === 'postgres' ? 'PostgresEngine as E' : 'SqliteEngine as E'} } from ${JSON.stringify(engineFile)};
       const e = new E(${JSON.stringify(loc.url ?? loc.file)});
       await e.tryWithLock('collateralRefresh', async () => { process.stdout.write('locked\\n'); await new Promise(() => {}); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
  });
  const other = loc.url ? new PostgresEngine(loc.url) : new SqliteEngine(loc.file);
  try {
    assert.equal(await other.tryWithLock('collateralRefresh', async () => 'ran'), undefined, 'held by the child');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    if (h.kind === 'postgres') {
      // The session lock ends with the dead connection (the server notices the closed socket).
      let got: string | undefined;
      for (let i = 0; i < 100 && got === undefined; i++) {
        got = await other.tryWithLock('collateralRefresh', async () => 'ran');
        if (got === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(got, 'ran');
    } else {
      // SQLite has no lock manager across processes: a lease that a dead holder cannot renew expires
      // (10 minutes); until then refreshes are skipped, never run twice at once.
      assert.equal(await other.tryWithLock('collateralRefresh', async () => 'ran'), undefined);
    }
  } finally {
    await other.close();
  }
});
