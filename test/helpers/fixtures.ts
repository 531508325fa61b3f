// The shared real-data fixtures (../shared/fixtures/dcap), read in place. Suites that need them use
// describeShared('fixtures/dcap', ...) from ./shared.ts, so a missing ../shared shows as skipped tests.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sharedMissing, sharedPath } from './shared.ts';

export { REPO_ROOT } from './shared.ts';
export const FIXTURES_DIR = sharedPath('fixtures/dcap');
export const FIXTURES_MISSING = sharedMissing('fixtures/dcap');

export interface FixtureExpected {
  at: string;
  ok: boolean;
  status: string | null;
  advisoryIds: string[];
  report: Record<string, unknown>;
}

export interface Fixture {
  name: string;
  dir: string;
  quote: Buffer;
  collateralText: string;
  rootPem: string;
  expected: FixtureExpected;
}

export function loadFixtures(): Fixture[] {
  if (FIXTURES_MISSING) return [];
  return readdirSync(FIXTURES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => {
      const dir = join(FIXTURES_DIR, d.name);
      return {
        name: d.name,
        dir,
        quote: readFileSync(join(dir, 'quote.bin')),
        collateralText: readFileSync(join(dir, 'collateral.json'), 'utf8'),
        rootPem: readFileSync(join(dir, 'root_ca.pem'), 'utf8'),
        expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as FixtureExpected,
      };
    });
}
