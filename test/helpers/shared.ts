// The one way tests find ../shared (real Intel quotes and collateral, real signed enclaves): beside the
// repository, never an absolute path. Where it is missing, a test that needs it is registered as skipped
// with the reason, so the runner's "skipped" count shows what a green run did not check. (Node counts a
// skipped test, not a skipped describe: a skipped suite would report "skipped 0".)
//
// WARDEN_SHARED_DIR points elsewhere (e.g. at a missing folder, to see the suite pass without it);
// WARDEN_REQUIRE_SHARED=1 (set by .ci/run) turns a missing ../shared into a failure instead of skips.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = resolve(process.env['WARDEN_SHARED_DIR'] || join(REPO_ROOT, '../shared'));

/** The parts of ../shared the tests read (its README lists them). */
export type SharedPart = 'fixtures/dcap' | 'fixtures/enclaves';

export function sharedPath(part: SharedPart, ...rest: string[]): string {
  return join(SHARED_DIR, part, ...rest);
}

/** Why `part` cannot be read here, or false when it can. */
export function sharedMissing(part: SharedPart): string | false {
  const dir = sharedPath(part);
  if (existsSync(dir)) return false;
  const why = `needs ../shared/${part}, not found at ${dir}`;
  if (process.env['WARDEN_REQUIRE_SHARED'] === '1') throw new Error(`${why} (WARDEN_REQUIRE_SHARED=1: this run must check the real data)`);
  return why;
}

/** Options for a single test that reads `part`: `test(name, needsShared('fixtures/dcap'), fn)`. */
export function needsShared(part: SharedPart): { skip: string | false } {
  return { skip: sharedMissing(part) };
}

/**
 * A suite that reads `part`: the suite itself when it is there, else one skipped test of the same name
 * (counted by the runner, with the reason). `body` runs only when the data is there.
 */
export function describeShared(part: SharedPart, name: string, body: () => void): void {
  const missing = sharedMissing(part);
  if (missing) test(name, { skip: missing }, () => {});
  else describe(name, body);
}
