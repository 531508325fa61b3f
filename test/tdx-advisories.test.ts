// Which advisory IDs a TDX verdict reports (issue #17): `advisoryIds` are the matched platform TCB level's, as Intel's
// QvE fills sa_list (qve.cpp: getMatchingTcbLevel, the level both the PCK certificate and TEE_TCB_SVN meet); the TDX
// module level's are reported beside them (`tdxModule.advisoryIds`, the token's tdx_module.advisory_ids), never mixed
// in. A policy accepting a status other than UpToDate must allow both: the module's advisory is why the TD is OutOfDate.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { collateralToJson } from '../src/dcap/collateral-json.ts';
import type { TdxVerification } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import { evaluate } from '../src/policy/evaluate.ts';
import { loadPolicies } from '../src/policy/load.ts';
import { earClaims } from '../src/server/ear.ts';
import { SIM_TD, SimPki, makeCollateral, makeQuote } from '../src/sim/index.ts';

const at = new Date();
const pki = await SimPki.create({ at });
const platform = await pki.platform({}, at);
const collateral = await makeCollateral(pki, { at, platform, tee: 'TDX' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-tdx-adv-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// TEE_TCB_SVN: [0] module ISVSVN against TDX_01 (5 UpToDate, 3 OutOfDate INTEL-SA-00960), [1] major version 1,
// [2] TDX microcode SVN against the platform levels (3 UpToDate, 2 OutOfDate INTEL-SA-01036).
const svn = (module: number, microcode: number) => Buffer.from([module, 1, microcode, ...new Array<number>(13).fill(0)]);
const verify = (teeTcbSvn: Buffer) => verifyQuote(makeQuote({ platform, version: 4, td: { teeTcbSvn } }), collateral, { at, trustedRoot: pki.rootPem }) as TdxVerification;

test('advisoryIds are the platform level\'s (as Intel\'s QvE); the module level\'s are reported beside them', () => {
  const cases: Array<[Buffer, string, string[], string | null, string[]]> = [
    [svn(5, 3), 'UpToDate', [], 'UpToDate', []],
    [svn(3, 3), 'OutOfDate', [], 'OutOfDate', ['INTEL-SA-00960']], // only the module is out of date: Intel's sa_list is empty
    [svn(5, 2), 'OutOfDate', ['INTEL-SA-01036'], 'UpToDate', []],
    [svn(3, 2), 'OutOfDate', ['INTEL-SA-01036'], 'OutOfDate', ['INTEL-SA-00960']],
  ];
  for (const [teeTcbSvn, status, platformIds, moduleStatus, moduleIds] of cases) {
    const v = verify(teeTcbSvn);
    const what = teeTcbSvn.subarray(0, 3).toString('hex');
    assert.equal(v.status, status, what);
    assert.deepEqual(v.advisoryIds, platformIds, what);
    assert.equal(v.tdx.moduleStatus, moduleStatus, what);
    assert.deepEqual(v.tdx.moduleAdvisoryIds, moduleIds, what);
    const ear = earClaims({ verification: v, nonce: 'bm9uY2U=', policies: [], policySetHash: '00', released: [], serverKeyId: '00', root: 'simulated', now: at, ttlSeconds: 60 });
    const td = (ear['submods'] as Record<string, Record<string, Record<string, unknown>>>)['tdx']!['warden.tdx']!;
    assert.deepEqual(td['advisory_ids'], platformIds, what);
    assert.deepEqual((td['tdx_module'] as Record<string, unknown>)['advisory_ids'], moduleIds, what);
  }
});

test('warden verify --json prints tdxModule beside the platform advisories; an SGX verdict has none', async () => {
  fs.writeFileSync(path.join(tmp, 'q.bin'), makeQuote({ platform, version: 4, td: { teeTcbSvn: svn(3, 2) } }));
  fs.writeFileSync(path.join(tmp, 'sgx.bin'), makeQuote({ platform }));
  fs.writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(collateralToJson(collateral)));
  fs.writeFileSync(path.join(tmp, 'sgx.json'), JSON.stringify(collateralToJson(await makeCollateral(pki, { at, platform }))));
  fs.writeFileSync(path.join(tmp, 'root.pem'), pki.rootPem);
  const run = async (q: string, c: string) => {
    const out: string[] = [];
    const code = await main(['verify', '--quote', path.join(tmp, q), '--collateral', path.join(tmp, c), '--root-ca', path.join(tmp, 'root.pem'), '--json'], { out: (l) => out.push(l), err: () => {} });
    assert.equal(code, 0, out.join('\n'));
    return JSON.parse(out.join('\n')) as Record<string, unknown>;
  };
  const j = await run('q.bin', 'c.json');
  assert.equal(j['status'], 'OutOfDate');
  assert.deepEqual(j['advisoryIds'], ['INTEL-SA-01036']);
  assert.deepEqual(j['tdxModule'], { identity: 'TDX_01', status: 'OutOfDate', tcbDate: '2023-08-09T00:00:00Z', advisoryIds: ['INTEL-SA-00960'] });
  assert.equal('tdxModule' in (await run('sgx.bin', 'sgx.json')), false);
});

test('a policy accepting OutOfDate must allow the module\'s advisories too; the check names where each comes from', () => {
  const h = (b: Buffer) => b.toString('hex');
  const policy = (advisories: string[]) =>
    loadPolicies([
      {
        file: 'vm.yaml',
        text: `name: vm\nversion: 1\ntee: tdx\nmatch:\n  - mrtd: ${h(SIM_TD.mrTd)}\n    rtmr0: ${h(SIM_TD.rtmr0)}\ntcb:\n  statuses: [UpToDate, OutOfDate]\n  advisories: [${advisories.join(', ')}]\nsecrets: [disk]\n`,
      },
    ]).set!;
  const platformOnly = verify(svn(5, 2));
  const moduleToo = verify(svn(3, 2));
  const onlyModule = verify(svn(3, 3));
  const now = at;
  assert.equal(evaluate(policy(['INTEL-SA-01036']), platformOnly, { now }).allowed, true);
  const denied = evaluate(policy(['INTEL-SA-01036']), moduleToo, { now });
  assert.equal(denied.allowed, false);
  const check = denied.policies[0]!.checks.find((c) => c.name === 'advisories')!;
  assert.equal(check.message, 'advisory INTEL-SA-00960 (TDX module) not allowed');
  assert.deepEqual(check.actual, ['INTEL-SA-01036', 'INTEL-SA-00960']);
  // Intel's sa_list is empty here, yet the TD is OutOfDate because of its module: the allowance is still needed.
  assert.equal(evaluate(policy(['INTEL-SA-01036']), onlyModule, { now }).allowed, false);
  assert.equal(evaluate(policy(['INTEL-SA-01036', 'INTEL-SA-00960']), moduleToo, { now }).allowed, true);
  assert.equal(evaluate(policy(['INTEL-SA-00960']), onlyModule, { now }).allowed, true);
});
