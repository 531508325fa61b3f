import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../src/policy/evaluate.ts';
import { MRENCLAVE, MRSIGNER, NOW, setOf, verificationFor } from './policy-helpers.ts';

const payments = `
name: payments
version: 3
match:
  - mrsigner: ${MRSIGNER}
    isvprodid: 4
    min_isvsvn: 3
tcb:
  statuses: [UpToDate, SWHardeningNeeded]
  advisories:
    - id: INTEL-SA-00615
      expires: 2025-06-30
    - INTEL-SA-00657
  min_tcb_date: 2023-02-15
collateral:
  max_age: 7d
secrets:
  - payments-key
  - name: payments-db
    versions: current+previous
`;

const check = (d: ReturnType<typeof evaluate>, policy: string, name: string) => {
  const p = d.policies.find((x) => x.name === policy);
  assert.ok(p, `no result for ${policy}`);
  const c = p.checks.find((x) => x.name === name);
  assert.ok(c, `no check ${name} in ${policy}: ${JSON.stringify(p.checks)}`);
  return c;
};

test('a matching enclave that passes every check receives the policy secrets', () => {
  const set = setOf({ 'payments.yaml': payments });
  const d = evaluate(set, verificationFor(), { now: NOW });
  assert.equal(d.allowed, true);
  assert.deepEqual(d.secrets, ['payments-db', 'payments-key']);
  assert.equal(d.policy, 'payments');
  assert.equal(d.releasedBy['payments-db']?.versions, 'current+previous');
  assert.equal(d.releasedBy['payments-key']?.versions, 'current');
  assert.equal(d.policySetHash, set.hash);
  assert.deepEqual(d.reasons, []);
  const p = d.policies[0];
  assert.ok(p && p.matched && p.ok);
  for (const c of p.checks) assert.equal(c.ok, true, c.message);
  assert.deepEqual(
    p.checks.map((c) => c.name),
    ['identity', 'min_isvsvn', 'debug', 'tcb_status', 'advisories', 'min_tcb_date', 'collateral_age'],
  );
});

test('default deny: an enclave no policy names gets nothing, and the decision says so', () => {
  const set = setOf({ 'payments.yaml': payments });
  const d = evaluate(set, verificationFor({ report: { mrSigner: Buffer.alloc(32, 0xcc) } }), { now: NOW });
  assert.equal(d.allowed, false);
  assert.deepEqual(d.secrets, []);
  assert.equal(d.policy, null);
  assert.equal(d.policies[0]?.matched, false);
  assert.match(d.reasons.join('\n'), /no policy matches this enclave/);
  // Same signer, other product: still not matched.
  const other = evaluate(set, verificationFor({ report: { isvProdId: 5 } }), { now: NOW });
  assert.equal(other.allowed, false);
  assert.equal(other.policies[0]?.matched, false);
});

test('isvsvn below the minimum is refused with expected and actual values', () => {
  const d = evaluate(setOf({ 'p.yaml': payments }), verificationFor({ report: { isvSvn: 2 } }), { now: NOW });
  assert.equal(d.allowed, false);
  const c = check(d, 'payments', 'min_isvsvn');
  assert.deepEqual([c.ok, c.expected, c.actual], [false, 3, 2]);
  assert.ok(d.reasons.includes('isvsvn 2 < min_isvsvn 3'), d.reasons.join('\n'));
  // ISVSVN is a minimum, not an equality: a newer build passes.
  assert.equal(evaluate(setOf({ 'p.yaml': payments }), verificationFor({ report: { isvSvn: 40 } }), { now: NOW }).allowed, true);
});

test('debug enclaves are refused by default and only released when the policy says allow', () => {
  const strict = setOf({ 'p.yaml': payments });
  const d = evaluate(strict, verificationFor({ report: { debug: true } }), { now: NOW });
  assert.equal(d.allowed, false);
  assert.ok(d.reasons.includes('debug enclave refused by policy payments'), d.reasons.join('\n'));
  const c = check(d, 'payments', 'debug');
  assert.deepEqual([c.ok, c.expected, c.actual], [false, 'deny', 'debug']);
  const dev = setOf({ 'p.yaml': payments + 'debug: allow\n' });
  assert.equal(evaluate(dev, verificationFor({ report: { debug: true } }), { now: NOW }).allowed, true);
});

test('TCB status must be in the accepted list; the default list is UpToDate only', () => {
  const d = evaluate(setOf({ 'p.yaml': payments }), verificationFor({ status: 'OutOfDate', advisoryIds: [] }), { now: NOW });
  assert.equal(d.allowed, false);
  const c = check(d, 'payments', 'tcb_status');
  assert.deepEqual([c.ok, c.actual], [false, 'OutOfDate']);
  assert.deepEqual(c.expected, ['UpToDate', 'SWHardeningNeeded']);

  const minimal = setOf({ 'm.yaml': `name: m\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\nsecrets: [k]\n` });
  assert.equal(evaluate(minimal, verificationFor(), { now: NOW }).allowed, true);
  const sw = evaluate(minimal, verificationFor({ status: 'SWHardeningNeeded', advisoryIds: [] }), { now: NOW });
  assert.equal(sw.allowed, false);
  assert.deepEqual(check(sw, 'm', 'tcb_status').expected, ['UpToDate']);
});

test('a status other than UpToDate needs every advisory allowed and unexpired', () => {
  const set = setOf({ 'p.yaml': payments });
  // Fresh collateral at each evaluation time, so only the advisory allowance is under test.
  const sw = (ids: string[], now = NOW) =>
    evaluate(set, verificationFor({ status: 'SWHardeningNeeded', advisoryIds: ids, collateralIssuedAt: new Date(now.getTime() - 3600_000) }), { now });
  assert.equal(sw(['INTEL-SA-00615']).allowed, true);
  assert.equal(sw(['INTEL-SA-00615', 'INTEL-SA-00657']).allowed, true); // no expiry: allowed (lint warns)

  const unknown = sw(['INTEL-SA-00615', 'INTEL-SA-00828']);
  assert.equal(unknown.allowed, false);
  assert.ok(unknown.reasons.includes('advisory INTEL-SA-00828 not allowed'), unknown.reasons.join('\n'));
  assert.deepEqual(check(unknown, 'payments', 'advisories').actual, ['INTEL-SA-00615', 'INTEL-SA-00828']);

  const expired = sw(['INTEL-SA-00615'], new Date('2025-06-30T00:00:00Z'));
  assert.equal(expired.allowed, false);
  assert.match(expired.reasons.join('\n'), /advisory INTEL-SA-00615 allowance expired on 2025-06-30/);
  // One second earlier the allowance still holds.
  assert.equal(sw(['INTEL-SA-00615'], new Date('2025-06-29T23:59:59Z')).allowed, true);
  // UpToDate never needs an allowance.
  assert.equal(evaluate(set, verificationFor({ status: 'UpToDate', advisoryIds: ['INTEL-SA-00828'] }), { now: NOW }).allowed, true);
});

test('minimum TCB date and collateral age', () => {
  const set = setOf({ 'p.yaml': payments });
  const old = evaluate(set, verificationFor({ tcbDate: '2022-11-09T00:00:00Z' }), { now: NOW });
  assert.equal(old.allowed, false);
  assert.match(old.reasons.join('\n'), /tcb date 2022-11-09T00:00:00Z < min_tcb_date 2023-02-15/);
  assert.equal(evaluate(set, verificationFor({ tcbDate: '2023-02-15T00:00:00Z' }), { now: NOW }).allowed, true);

  const stale = evaluate(set, verificationFor({ collateralIssuedAt: new Date('2025-01-07T23:00:00Z') }), { now: NOW });
  assert.equal(stale.allowed, false);
  const c = check(stale, 'payments', 'collateral_age');
  assert.equal(c.ok, false);
  assert.equal(c.expected, '7d');
  assert.match(c.message, /older than max_age 7d/);
  assert.equal(evaluate(set, verificationFor({ collateralIssuedAt: new Date('2025-01-08T00:00:00Z') }), { now: NOW }).allowed, true);
});

test('KSS fields are checked when the identity names them', () => {
  const kss = setOf({
    'k.yaml': `name: k\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\n    isvfamilyid: ${'0'.repeat(28)}a11a\n    isvextprodid: ${'0'.repeat(31)}1\n    configid: ${'cd'.repeat(64)}\n    min_configsvn: 3\nsecrets: [k]\n`,
  });
  const good = verificationFor({
    report: {
      isvFamilyId: Buffer.from('0'.repeat(28) + 'a11a', 'hex'),
      isvExtProdId: Buffer.from('0'.repeat(31) + '1', 'hex'),
      configId: Buffer.alloc(64, 0xcd),
      configSvn: 3,
    },
  });
  assert.equal(evaluate(kss, good, { now: NOW }).allowed, true);
  const lowCfg = evaluate(kss, { ...good, report: { ...good.report, configSvn: 2 } }, { now: NOW });
  assert.ok(lowCfg.reasons.includes('configsvn 2 < min_configsvn 3'), lowCfg.reasons.join('\n'));
  const otherCfg = evaluate(kss, { ...good, report: { ...good.report, configId: Buffer.alloc(64, 1) } }, { now: NOW });
  assert.equal(otherCfg.allowed, false);
  assert.equal(check(otherCfg, 'k', 'configid').ok, false);
  const otherFamily = evaluate(kss, { ...good, report: { ...good.report, isvFamilyId: Buffer.alloc(16) } }, { now: NOW });
  assert.equal(check(otherFamily, 'k', 'isvfamilyid').ok, false);
});

test('a request for named secrets is allowed only if every one is released; otherwise denied whole', () => {
  const set = setOf({
    'payments.yaml': payments,
    'shared.yaml': `name: shared\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [tls-cert]\n`,
  });
  const v = verificationFor();
  const one = evaluate(set, v, { now: NOW, requestedSecrets: ['payments-key'] });
  assert.equal(one.allowed, true);
  assert.deepEqual(one.secrets, ['payments-key']);
  assert.equal(one.policy, 'payments');

  const both = evaluate(set, v, { now: NOW, requestedSecrets: ['tls-cert', 'payments-key'] });
  assert.equal(both.allowed, true);
  assert.deepEqual(both.secrets, ['payments-key', 'tls-cert']);
  assert.equal(both.releasedBy['tls-cert']?.policy, 'shared');

  const withUnknown = evaluate(set, v, { now: NOW, requestedSecrets: ['payments-key', 'root-password'] });
  assert.equal(withUnknown.allowed, false);
  assert.deepEqual(withUnknown.secrets, []);
  assert.match(withUnknown.reasons.join('\n'), /secret root-password is not released/);

  // A policy whose checks fail releases nothing, even if another policy passes for other secrets.
  const debug = verificationFor({ report: { debug: true } });
  const denied = evaluate(set, debug, { now: NOW, requestedSecrets: ['payments-key'] });
  assert.equal(denied.allowed, false);
  assert.match(denied.reasons.join('\n'), /debug enclave refused by policy payments/);

  assert.equal(evaluate(set, v, { now: NOW, requestedSecrets: [] }).allowed, false);
});

test('with several matching identities, one that passes decides', () => {
  const set = setOf({
    'p.yaml': `name: p\nversion: 1\nmatch:\n  - mrsigner: ${MRSIGNER}\n    isvprodid: 4\n    min_isvsvn: 9\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 5\nsecrets: [k]\n`,
  });
  const d = evaluate(set, verificationFor({ report: { isvSvn: 7 } }), { now: NOW });
  assert.equal(d.allowed, true);
  assert.deepEqual(d.policies[0]?.checks[0]?.expected, { mrenclave: MRENCLAVE });
  const low = evaluate(set, verificationFor({ report: { isvSvn: 4 } }), { now: NOW });
  assert.equal(low.allowed, false);
});

test('a hand-built policy without MRENCLAVE or MRSIGNER never matches (no wildcard)', () => {
  const set = setOf({ 'p.yaml': payments });
  const policy = set.policies[0];
  assert.ok(policy);
  const wildcard = { ...set, policies: [{ ...policy, match: [{ isvProdId: 4 }] }] };
  const d = evaluate(wildcard, verificationFor(), { now: NOW });
  assert.equal(d.allowed, false);
  assert.equal(d.policies[0]?.matched, false);
});
