// The shared real-data fixtures (../shared/fixtures/dcap), read in place.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES_DIR = resolve(REPO_ROOT, '../shared/fixtures/dcap');
export const FIXTURES_MISSING = existsSync(FIXTURES_DIR)
  ? false
  : `the shared DCAP fixtures are missing: expected them at ${FIXTURES_DIR} (../shared beside the repository)`;

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
