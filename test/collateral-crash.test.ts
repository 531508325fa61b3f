import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';
import { CollateralProvider } from '../src/collateral/provider.ts';
import { SourceSet } from '../src/collateral/sources.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { FAST, makeWorld, pccs, type World } from './collateral-helpers.ts';

let w: World;

before(async () => {
  w = await makeWorld();
});

after(() => {
  fs.rmSync(w.dir, { recursive: true, force: true });
});

it('a process killed while writing the cache loses nothing already stored', async () => {
  const dbFile = path.join(w.dir, 'warden.db');
  // Real collateral first, from the PCCS, which then goes away.
  const s = await pccs(w);
  const cache = await StoreCollateralCache.open(dbFile);
  const now = new Date();
  await new CollateralProvider({ cache, sources: new SourceSet([s.url], FAST), trustedRoot: w.anchor }).get(w.fmspc, 'processor', now);
  await (await cache.close());
  await s.close();

  // A writer committing batch after batch is killed without warning.
  const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'collateral-crash-writer.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dbFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const committed = new Map<string, string>();
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve());
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [k, h] = l.split(' ');
        committed.set(k!, h!);
      }
      if (committed.size >= 60 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
  });
  assert.equal(child.signalCode, 'SIGKILL', 'the writer was killed, not finished');
  assert.ok(committed.size >= 60);

  // The next start: the database is intact, every reported write is there, and the real
  // collateral stored before serves verification with no source reachable.
  const reopened = await StoreCollateralCache.open(dbFile);
  try {
    assert.deepEqual(await reopened.engine.get('PRAGMA integrity_check'), { integrity_check: 'ok' });
    for (const [key, hash] of committed) {
      const it = await reopened.get({ kind: 'tcb_info', key });
      assert.ok(it, `item ${key} was committed before the kill`);
      assert.equal(createHash('sha256').update(it.raw).digest('hex'), hash);
    }
    const provider = new CollateralProvider({ cache: reopened, sources: new SourceSet([], FAST), trustedRoot: w.anchor });
    const col = await provider.get(w.fmspc, 'processor', now);
    assert.equal(verifyQuote(w.quote, col, { at: now, trustedRoot: w.pki.rootPem }).fmspc, w.fmspc);
  } finally {
    await reopened.close();
  }
});
