import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicies } from '../src/policy/load.ts';
import { parsePolicyText } from '../src/policy/parse.ts';
import { MRENCLAVE, MRSIGNER } from './policy-helpers.ts';

const base = (extra = '', match = `  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\n`) => `name: p\nversion: 1\nmatch:\n${match}secrets: [k]\n${extra}`;

function issues(text: string) {
  return parsePolicyText('p.yaml', text).issues;
}

test('defaults are the closed ones: debug deny, UpToDate only, no advisories', () => {
  const r = parsePolicyText('p.yaml', base());
  assert.deepEqual(r.issues, []);
  const p = r.policy;
  assert.ok(p);
  assert.equal(p.debug, 'deny');
  assert.deepEqual(p.tcb.statuses, ['UpToDate']);
  assert.deepEqual(p.tcb.advisories, []);
  assert.equal(p.collateral.maxAgeSeconds, undefined);
  assert.deepEqual(p.secrets, [{ name: 'k', versions: 'current' }]);
});

test('an identity with neither MRENCLAVE nor MRSIGNER is a schema error with its line, never a wildcard', () => {
  const text = base('', `  - mrenclave: ${MRENCLAVE}\n  - isvprodid: 3\n    min_isvsvn: 2\n`);
  const found = issues(text);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]?.code, 'identity_wildcard');
  assert.equal(found[0]?.file, 'p.yaml');
  assert.equal(found[0]?.line, 5);
  const empty = issues('name: p\nversion: 1\nmatch: {}\nsecrets: [k]\n');
  assert.ok(empty.length >= 1);
  assert.equal(issues('name: p\nversion: 1\nmatch: []\nsecrets: [k]\n')[0]?.line, 3);
  assert.match(issues('name: p\nversion: 1\nmatch: []\nsecrets: [k]\n')[0]?.message ?? '', /at least one identity/);
  assert.match(issues(base('', '  - {}\n'))[0]?.message ?? '', /mrenclave, or mrsigner with isvprodid/);
});

test('mrsigner without isvprodid is refused', () => {
  const found = issues(base('', `  - mrsigner: ${MRSIGNER}\n    min_isvsvn: 2\n`));
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]?.code, 'identity_incomplete');
  assert.equal(found[0]?.line, 4);
});

test('schema errors carry file and line of the offending value or key', () => {
  const text = [
    'name: payments', // 1
    'version: 1', // 2
    'match:', // 3
    `  - mrenclave: ${MRENCLAVE.slice(2)}`, // 4: too short
    '    min_isvsn: 3', // 5: typo
    'debug: maybe', // 6
    'tcb:', // 7
    '  statuses: [UpToDate, Revoked]', // 8
    '  advisories: [INTEL-SA-1]', // 9
    'collateral: { max_age: 30x }', // 10
    'secrets: ["bad name"]', // 11
  ].join('\n');
  const found = issues(text);
  const at = (line: number) => found.filter((i) => i.line === line).map((i) => i.message);
  assert.match(at(4).join(), /64 hex characters/);
  assert.match(at(5).join(), /unknown key 'min_isvsn'/);
  assert.match(at(6).join(), /debug: must be one of deny, allow/);
  assert.match(at(8).join(), /Revoked can never be accepted/);
  assert.match(at(9).join(), /advisory ID/);
  assert.match(at(10).join(), /max_age/);
  assert.match(at(11).join(), /secret name/);
  for (const i of found) assert.equal(i.file, 'p.yaml');
});

test('missing required keys and YAML syntax errors', () => {
  const missing = issues(`name: p\nmatch:\n  - mrenclave: ${MRENCLAVE}\n`);
  assert.deepEqual(missing.map((i) => i.message).sort(), ["missing required key 'secrets'", "missing required key 'version'"]);
  const syntax = issues('name: p\nversion: 1\nmatch: [\n');
  assert.equal(syntax[0]?.code, 'yaml_syntax');
  assert.ok(syntax[0]?.line);
  const dupKey = issues('name: p\nname: q\nversion: 1\n');
  assert.equal(dupKey[0]?.code, 'yaml_syntax');
  assert.equal(dupKey[0]?.line, 2);
  assert.equal(issues('a: 1\n---\nb: 2\n')[0]?.code, 'yaml_syntax');
  assert.equal(issues('- just\n- a list\n')[0]?.code, 'schema');
});

test('invalid calendar dates are errors', () => {
  const found = issues(base('tcb:\n  advisories:\n    - id: INTEL-SA-00615\n      expires: 2025-02-30\n'));
  assert.equal(found[0]?.code, 'invalid_date');
  assert.equal(found[0]?.line, 10);
});

test('all-digit hex values stay text (YAML would read them as numbers)', () => {
  const allDigits = '1234567890'.repeat(6) + '1234';
  const r = parsePolicyText('p.yaml', base('', `  - mrenclave: ${allDigits}\n    min_isvsvn: 1\n`));
  assert.deepEqual(r.issues, []);
  assert.equal(r.policy?.match[0]?.mrEnclave, allDigits);
});

test('duplicate policy names across files are an error; a set with errors is not built', () => {
  const r = loadPolicies([
    { file: 'a.yaml', text: base() },
    { file: 'b.yaml', text: base() },
  ]);
  assert.equal(r.set, null);
  assert.equal(r.issues[0]?.code, 'duplicate_name');
  assert.equal(r.issues[0]?.file, 'b.yaml');
});

test('the set hash ignores comments and layout but changes with what a policy allows', () => {
  const a = loadPolicies([{ file: 'a.yaml', text: base() }]).set;
  const reformatted = loadPolicies([
    { file: 'other-name.yaml', text: `# comment\nsecrets:\n  - k\nmatch:\n  - { min_isvsvn: 1, mrenclave: ${MRENCLAVE.toUpperCase()} }\nversion: 1\nname: p\ndebug: deny\n` },
  ]).set;
  const looser = loadPolicies([{ file: 'a.yaml', text: base('debug: allow\n') }]).set;
  const bumped = loadPolicies([{ file: 'a.yaml', text: base().replace('version: 1', 'version: 2') }]).set;
  assert.ok(a && reformatted && looser && bumped);
  assert.match(a.hash, /^[0-9a-f]{64}$/);
  assert.equal(reformatted.hash, a.hash);
  assert.notEqual(looser.hash, a.hash);
  assert.notEqual(bumped.hash, a.hash);
  // Order of files does not matter: the set is sorted by name.
  const two = (order: string[]) =>
    loadPolicies(order.map((n) => ({ file: `${n}.yaml`, text: base().replace('name: p', `name: ${n}`) }))).set?.hash;
  assert.equal(two(['x', 'y']), two(['y', 'x']));
});

test('collateral.max_age takes a short form or an ISO 8601 duration', () => {
  const age = (v: string) => parsePolicyText('p.yaml', base(`collateral:\n  max_age: ${v}\n`));
  assert.equal(age('7d').policy?.collateral.maxAgeSeconds, 7 * 86400);
  assert.equal(age('12h').policy?.collateral.maxAgeSeconds, 12 * 3600);
  assert.equal(age('P30D').policy?.collateral.maxAgeSeconds, 30 * 86400);
  assert.equal(age('PT90M').policy?.collateral.maxAgeSeconds, 90 * 60);
  for (const bad of ['P', 'PT', '0d', '7 days', '-1d']) assert.equal(age(bad).policy, null, bad);
});

test('a deeply nested file is refused with a depth error and its line, never a stack overflow', () => {
  const flow = (n: number) => `name: p\nversion: 1\nmatch: ${'['.repeat(n)}${']'.repeat(n)}\nsecrets: [k]\n`;
  const compact = (n: number) => `name: p\nversion: 1\nmatch:\n${'- '.repeat(n)}1\nsecrets: [k]\n`;
  const block = (n: number) => `name: p\nversion: 1\nsecrets: [k]\nmatch:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}- `).join('\n')}1\n`;
  // 300 levels fit the parser's stack (the schema used to answer), 5000 overflow it (it said "Maximum call stack size exceeded").
  for (const [what, text] of [['flow 5000', flow(5000)], ['compact 5000', compact(5000)], ['block 300', block(300)], ['flow 300', flow(300)], ['flow 33', flow(32)]] as const) {
    const found = issues(text);
    assert.equal(found.length, 1, `${what}: ${JSON.stringify(found).slice(0, 300)}`);
    assert.equal(found[0]?.code, 'too_deep', what);
    assert.match(found[0]?.message ?? '', /nested more than 32 levels/, what);
    assert.doesNotMatch(found[0]?.message ?? '', /call stack/, what);
    // The CST parser overflows before any node has a position on compact sequences; the others name a line.
    if (!what.startsWith('compact')) assert.ok((found[0]?.line ?? 0) >= 3, `${what}: points at the nesting, line ${found[0]?.line}`);
  }
  // The limit leaves room: 31 levels below the top are parsed and judged by the schema.
  assert.notEqual(issues(flow(30))[0]?.code, 'too_deep');
});
