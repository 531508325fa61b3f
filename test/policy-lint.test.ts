import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicies } from '../src/policy/load.ts';
import { OCCLUM_DEFAULT_MRSIGNER } from '../src/policy/lint.ts';
import type { LintWarning } from '../src/policy/types.ts';
import { MRENCLAVE, MRSIGNER } from './policy-helpers.ts';

function lint(files: Record<string, string>): LintWarning[] {
  const r = loadPolicies(Object.entries(files).map(([file, text]) => ({ file, text })));
  assert.deepEqual(r.issues, [], 'lint only concerns valid policies');
  assert.ok(r.set, 'warnings never block loading');
  return r.warnings;
}

const clean = `name: clean
version: 1
match:
  - mrsigner: ${MRSIGNER}
    isvprodid: 1
    min_isvsvn: 2
tcb:
  statuses: [UpToDate, SWHardeningNeeded]
  advisories:
    - id: INTEL-SA-00615
      expires: 2026-01-01
secrets: [k]
`;

const codes = (w: LintWarning[]) => w.map((x) => x.code).sort();

test('a careful policy draws no warning', () => {
  assert.deepEqual(lint({ 'clean.yaml': clean }), []);
});

test('debug: allow warns, with file and line', () => {
  const w = lint({ 'dev.yaml': clean + 'debug: allow\n' });
  assert.deepEqual(codes(w), ['debug_allowed']);
  assert.equal(w[0]?.file, 'dev.yaml');
  assert.equal(w[0]?.line, 13);
  assert.equal(w[0]?.policy, 'clean');
});

test('OutOfDate and Configuration* statuses warn, one warning per status', () => {
  const text = clean.replace(
    'statuses: [UpToDate, SWHardeningNeeded]',
    'statuses:\n    - UpToDate\n    - OutOfDate\n    - OutOfDateConfigurationNeeded\n    - ConfigurationNeeded\n    - ConfigurationAndSWHardeningNeeded',
  );
  const w = lint({ 's.yaml': text });
  assert.deepEqual(codes(w), ['status_configuration_accepted', 'status_configuration_accepted', 'status_outofdate_accepted', 'status_outofdate_accepted']);
  const lines = w.map((x) => x.line).sort();
  assert.deepEqual(lines, [10, 11, 12, 13]);
});

test('an advisory allowed with no expiry warns', () => {
  const w = lint({ 'a.yaml': clean.replace('    - id: INTEL-SA-00615\n      expires: 2026-01-01', '    - INTEL-SA-00615\n    - id: INTEL-SA-00657') });
  assert.deepEqual(codes(w), ['advisory_without_expiry', 'advisory_without_expiry']);
  assert.match(w[0]?.message ?? '', /INTEL-SA-00615/);
  assert.equal(w[0]?.line, 10);
});

test('min_isvsvn absent or 0 warns', () => {
  assert.deepEqual(codes(lint({ 'a.yaml': clean.replace('    min_isvsvn: 2\n', '') })), ['min_isvsvn_missing']);
  const zero = lint({ 'z.yaml': clean.replace('min_isvsvn: 2', 'min_isvsvn: 0') });
  assert.deepEqual(codes(zero), ['min_isvsvn_missing']);
  assert.equal(zero[0]?.line, 6);
  assert.match(zero[0]?.message ?? '', /min_isvsvn is 0/);
});

test("Occlum's default development MRSIGNER warns", () => {
  const w = lint({ 'o.yaml': clean.replace(MRSIGNER, OCCLUM_DEFAULT_MRSIGNER.toUpperCase()) });
  assert.deepEqual(codes(w), ['occlum_default_signer']);
  assert.equal(w[0]?.line, 4);
  assert.equal(OCCLUM_DEFAULT_MRSIGNER, '83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e');
});

test('the same identity in two policies that release different secrets warns', () => {
  const other = clean.replace('name: clean', 'name: other').replace('secrets: [k]', 'secrets: [k, extra]');
  const w = lint({ 'clean.yaml': clean, 'other.yaml': other });
  assert.deepEqual(codes(w), ['identity_conflict']);
  assert.match(w[0]?.message ?? '', /clean and other both match mrsigner/);
  // Same identity, same secrets: no conflict.
  assert.deepEqual(lint({ 'clean.yaml': clean, 'same.yaml': clean.replace('name: clean', 'name: same') }), []);
  // Same MRENCLAVE in two policies releasing different secrets.
  const byEnclave = (n: string, s: string) => `name: ${n}\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [${s}]\n`;
  assert.deepEqual(codes(lint({ 'a.yaml': byEnclave('a', 'x'), 'b.yaml': byEnclave('b', 'y') })), ['identity_conflict']);
});

test('the shipped example policies load; only the debug demo draws warnings', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const dir = new URL('../policies/', import.meta.url).pathname;
  const files = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.yaml'))
    .map((n) => ({ file: n, text: fs.readFileSync(path.join(dir, n), 'utf8') }));
  assert.ok(files.length >= 2);
  const r = loadPolicies(files);
  assert.deepEqual(r.issues, []);
  assert.deepEqual([...new Set(r.warnings.map((w) => w.file))], ['example-debug-demo.yaml']);
  for (const p of r.set?.policies ?? []) assert.equal(p.debug, 'deny', `${p.name} must stay safe`);
});
