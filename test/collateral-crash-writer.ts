// Child process of the crash test: writes cache items in a loop, reporting each committed batch,
// until it is killed.
import { createHash, randomBytes } from 'node:crypto';
import { StoreCollateralCache } from '../src/store/collateral-cache.ts';

const cache = await StoreCollateralCache.open(process.argv[2]!);
const now = Date.now();
for (let n = 0; ; n++) {
  const batch = [0, 1, 2].map((j) => {
    const raw = randomBytes(4096 + ((n * 3 + j) % 16) * 4096);
    return {
      kind: 'tcb_info' as const,
      key: (n * 3 + j).toString(16).padStart(12, '0'),
      raw,
      issuerChain: '',
      source: 'crash-test',
      fetchedAt: new Date(now),
      issueDate: new Date(now),
      nextUpdate: new Date(now + 86_400_000),
    };
  });
  await cache.putAll(batch);
  process.stdout.write(batch.map((b) => `${b.key} ${createHash('sha256').update(b.raw).digest('hex')}\n`).join(''));
}
