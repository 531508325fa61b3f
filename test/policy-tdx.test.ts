// TDX policies (issue #17): `tee: tdx` with TD identities (mrtd or mrconfigid, optional RTMRs, owner and module
// measurements), DEBUG from TD_ATTRIBUTES, statuses and advisories as for SGX, the lint for an MRTD-only identity,
// one TEE type per policy, and `warden policy test` explaining each check of a TDX quote (S2 and a sim quote).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import type { TdReport } from '../src/dcap/types.ts';
import { evaluate, type TdxEvaluationInput } from '../src/policy/evaluate.ts';
import { loadPolicies } from '../src/policy/load.ts';
import { parsePolicyText } from '../src/policy/parse.ts';
import { SIM_TD, SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';
import { MRENCLAVE, NOW, setOf, verificationFor } from './policy-helpers.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';

const MRTD = 'aa'.repeat(48);
const RTMR0 = 'b0'.repeat(48);
const RTMR1 = 'b1'.repeat(48);
const tdPolicy = (match: string, extra = '') => `name: vm\nversion: 1\ntee: tdx\nmatch:\n${match}secrets: [disk]\n${extra}`;

function td(over: Partial<TdReport> = {}): TdReport {
  const z = (n: number) => Buffer.alloc(n);
  return {
    raw: z(584),
    version: '1.0',
    teeTcbSvn: z(16),
    mrSeam: Buffer.alloc(48, 0x5e),
    mrSignerSeam: z(48),
    seamAttributes: z(8),
    tdAttributes: z(8),
    debug: false,
    xfam: z(8),
    mrTd: Buffer.from(MRTD, 'hex'),
    mrConfigId: z(48),
    mrOwner: z(48),
    mrOwnerConfig: z(48),
    rtmr0: Buffer.from(RTMR0, 'hex'),
    rtmr1: Buffer.from(RTMR1, 'hex'),
    rtmr2: z(48),
    rtmr3: z(48),
    reportData: z(64),
    ...over,
  };
}
const tdInput = (over: Partial<TdReport> = {}, rest: Partial<TdxEvaluationInput> = {}): TdxEvaluationInput => ({
  teeType: 'TDX',
  status: 'UpToDate',
  advisoryIds: [],
  tcbDate: '2024-03-13T00:00:00Z',
  collateralIssuedAt: new Date('2025-01-10T00:00:00Z'),
  report: td(over),
  tdx: { moduleAdvisoryIds: [] },
  ...rest,
});

test('a TDX policy parses: TD identities with lower-cased hex, and the SGX identity keys are unknown there', () => {
  const r = parsePolicyText('vm.yaml', tdPolicy(`  - mrtd: ${MRTD.toUpperCase()}\n    rtmr0: ${RTMR0}\n    mrconfigid: ${'cc'.repeat(48)}\n`));
  assert.deepEqual(r.issues, []);
  assert.equal(r.policy!.tee, 'TDX');
  assert.deepEqual(r.policy!.match, []);
  assert.deepEqual(r.policy!.tdMatch, [{ mrTd: MRTD, rtmr0: RTMR0, mrConfigId: 'cc'.repeat(48), line: 5 }]);
  // An SGX policy stays as it was.
  assert.equal(parsePolicyText('a.yaml', `name: a\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [k]\n`).policy!.tee, 'SGX');
  // Schema errors with their lines and codes.
  const wildcard = parsePolicyText('vm.yaml', tdPolicy(`  - rtmr0: ${RTMR0}\n`)).issues;
  assert.equal(wildcard[0]?.code, 'identity_wildcard', JSON.stringify(wildcard));
  assert.equal(wildcard[0]?.line, 5);
  const sgxKey = parsePolicyText('vm.yaml', tdPolicy(`  - mrenclave: ${MRENCLAVE}\n`)).issues;
  assert.ok(sgxKey.some((i) => /unknown key 'mrenclave'/.test(i.message)), JSON.stringify(sgxKey));
  const shortHex = parsePolicyText('vm.yaml', tdPolicy(`  - mrtd: ${'aa'.repeat(32)}\n`)).issues;
  assert.match(shortHex[0]?.message ?? '', /96 hex characters \(48 bytes\)/);
  const badTee = parsePolicyText('vm.yaml', tdPolicy(`  - mrtd: ${MRTD}\n`).replace('tee: tdx', 'tee: sev')).issues;
  assert.ok(badTee.some((i) => /^tee: must be one of sgx, tdx/.test(i.message)), JSON.stringify(badTee));
  // The relaunch statuses may be accepted.
  assert.deepEqual(parsePolicyText('vm.yaml', tdPolicy(`  - mrtd: ${MRTD}\n    rtmr0: ${RTMR0}\n`, 'tcb:\n  statuses: [UpToDate, TDRelaunchAdvised]\n')).issues, []);
});

test('the policy set hash of SGX policies does not change; a TDX policy\'s depends on its TD identity', () => {
  const sgx = `name: a\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [k]\n`;
  const h = (files: Record<string, string>) => setOf(files).hash;
  // Computed before TDX policies existed (commit 687c6f7) for this one-policy set.
  assert.equal(h({ 'a.yaml': sgx }), SGX_SET_HASH);
  assert.notEqual(h({ 'vm.yaml': tdPolicy(`  - mrtd: ${MRTD}\n    rtmr0: ${RTMR0}\n`) }), h({ 'vm.yaml': tdPolicy(`  - mrtd: ${MRTD}\n    rtmr0: ${RTMR1}\n`) }));
});
const SGX_SET_HASH = 'c44438d2207550816ee68745b69e1efbac2840c2b5b2d215333f851ff0e492ef';

test('lint warns on a TD identity that pins MRTD only', () => {
  const warnings = (text: string) => loadPolicies([{ file: 'vm.yaml', text }]).warnings.map((w) => w.code);
  assert.ok(warnings(tdPolicy(`  - mrtd: ${MRTD}\n`)).includes('rtmrs_unchecked'));
  assert.ok(!warnings(tdPolicy(`  - mrtd: ${MRTD}\n    rtmr1: ${RTMR1}\n`)).includes('rtmrs_unchecked'));
  assert.ok(!warnings(tdPolicy(`  - mrconfigid: ${'cc'.repeat(48)}\n`)).includes('rtmrs_unchecked'));
});

test('evaluation: every named measurement must match; DEBUG refused by default; statuses and advisories as for SGX', () => {
  const set = setOf({
    'vm.yaml': tdPolicy(`  - mrtd: ${MRTD}\n    rtmr0: ${RTMR0}\n    rtmr1: ${RTMR1}\n`, 'tcb:\n  statuses: [UpToDate, OutOfDate]\n  advisories: [INTEL-SA-00960]\n'),
    'app.yaml': `name: app\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [k]\n`,
  });
  const ok = evaluate(set, tdInput(), { now: NOW });
  assert.equal(ok.allowed, true);
  assert.deepEqual(ok.secrets, ['disk']);
  const vm = ok.policies.find((p) => p.name === 'vm')!;
  assert.deepEqual(
    vm.checks.map((c) => [c.name, c.ok]),
    [['identity', true], ['debug', true], ['tcb_status', true], ['advisories', true]],
  );
  assert.match(vm.checks[0]!.message, /TD matches policy vm \(mrtd, rtmr0, rtmr1 equal\)/);
  // The SGX policy never matches a TD, and says why.
  const app = ok.policies.find((p) => p.name === 'app')!;
  assert.equal(app.matched, false);
  assert.match(app.checks[0]!.message, /policy app names SGX enclaves; this is a TDX quote/);

  const otherRtmr = evaluate(set, tdInput({ rtmr1: Buffer.alloc(48, 1) }), { now: NOW });
  assert.equal(otherRtmr.allowed, false);
  assert.match(otherRtmr.policies.find((p) => p.name === 'vm')!.checks[0]!.message, /rtmr1 01010101/);
  assert.match(otherRtmr.reasons.join('\n'), /no policy matches this TD \(mrtd aaaa/);

  const debug = evaluate(set, tdInput({ debug: true }), { now: NOW });
  assert.equal(debug.allowed, false);
  assert.match(debug.reasons.join('\n'), /debug TD \(TD_ATTRIBUTES.DEBUG\) refused by policy vm/);

  const ood = evaluate(set, tdInput({}, { status: 'OutOfDate', advisoryIds: ['INTEL-SA-00960'] }), { now: NOW });
  assert.equal(ood.allowed, true);
  const oodOther = evaluate(set, tdInput({}, { status: 'OutOfDate', advisoryIds: ['INTEL-SA-00837'] }), { now: NOW });
  assert.equal(oodOther.allowed, false);
  const relaunch = evaluate(set, tdInput({}, { status: 'TDRelaunchAdvised' }), { now: NOW });
  assert.equal(relaunch.allowed, false, 'TDRelaunchAdvised is accepted only when a policy lists it');

  // A TDX policy never matches an SGX enclave.
  const sgx = evaluate(setOf({ 'vm.yaml': tdPolicy(`  - mrtd: ${MRTD}\n    rtmr0: ${RTMR0}\n`) }), verificationFor(), { now: NOW });
  assert.equal(sgx.allowed, false);
  assert.match(sgx.policies[0]!.checks[0]!.message, /names TDX trust domains; this is an SGX quote/);
});

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-policy-tdx-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('warden policy test on a sim TDX quote explains each check', async () => {
  const pki = await SimPki.create();
  const platform = await pki.platform({});
  const at = new Date();
  fs.writeFileSync(path.join(tmp, 'q.bin'), makeQuote({ platform, version: 4, td: {} }));
  fs.writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(collateralToJson(await makeCollateral(pki, { at, platform, tee: 'TDX' }))));
  fs.writeFileSync(path.join(tmp, 'root.pem'), pki.rootPem);
  const dir = path.join(tmp, 'pol');
  fs.mkdirSync(dir);
  const h = (b: Buffer) => b.toString('hex');
  fs.writeFileSync(path.join(dir, 'vm.yaml'), tdPolicy(`  - mrtd: ${h(SIM_TD.mrTd)}\n    rtmr0: ${h(SIM_TD.rtmr0)}\n    rtmr1: ${h(SIM_TD.rtmr1)}\n    rtmr2: ${h(SIM_TD.rtmr2)}\n`));
  const args = ['policy', 'test', '--quote', path.join(tmp, 'q.bin'), '--collateral', path.join(tmp, 'c.json'), '--root-ca', path.join(tmp, 'root.pem'), '--policies', dir];
  const r = await cli([...args, '--json']);
  assert.equal(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.allowed, true);
  assert.equal(j.verification.report.teeType, 'TDX');
  assert.deepEqual(j.policies[0].checks.map((c: { name: string }) => c.name), ['identity', 'debug', 'tcb_status', 'advisories']);
  const human = await cli(args);
  assert.equal(human.code, 0);
  assert.match(human.out, new RegExp(`TD: +mrtd ${h(SIM_TD.mrTd)}`));
  assert.match(human.out, /TD matches policy vm/);
});

test('warden policy test on the shared S2 TDX quote: denied by an SGX policy, allowed by a TDX policy naming its MRTD and RTMRs', needsShared('fixtures/dcap'), async () => {
  const S2 = sharedPath('fixtures/dcap', 'S2-dcapqvl-tdx-v4');
  const expected = JSON.parse(fs.readFileSync(path.join(S2, 'expected.json'), 'utf8')) as { at: string; report: Record<string, string> };
  const dir = path.join(tmp, 's2');
  fs.mkdirSync(dir);
  const rep = expected.report;
  fs.writeFileSync(path.join(dir, 'vm.yaml'), tdPolicy(`  - mrtd: ${rep['mrTd']}\n    rtmr0: ${rep['rtmr0']}\n    rtmr1: ${rep['rtmr1']}\n    rtmr2: ${rep['rtmr2']}\n`));
  fs.writeFileSync(path.join(dir, 'app.yaml'), `name: app\nversion: 1\nmatch:\n  - mrenclave: ${MRENCLAVE}\n    min_isvsvn: 1\nsecrets: [k]\n`);
  const r = await cli(['policy', 'test', '--quote', path.join(S2, 'quote.bin'), '--collateral', path.join(S2, 'collateral.json'), '--at', expected.at, '--policies', dir, '--json']);
  assert.equal(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(j.secrets, ['disk']);
  assert.equal(j.policies.find((p: { name: string }) => p.name === 'app').matched, false);
});

test('all-digit TD measurements stay text: an unquoted all-zero rtmr3 or mrconfigid is read as written', () => {
  const zeros = '0'.repeat(96);
  const digits = '1234567890'.repeat(9) + '123456';
  const r = parsePolicyText('vm.yaml', tdPolicy(`  - mrtd: ${digits}\n    rtmr3: ${zeros}\n    mrconfigid: ${zeros}\n`));
  assert.deepEqual(r.issues, []);
  const id = r.policy!.tdMatch[0]!;
  assert.equal(id.mrTd, digits);
  assert.equal(id.rtmr3, zeros);
  assert.equal(id.mrConfigId, zeros);
});
