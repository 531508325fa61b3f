// `warden sim quote --tee tdx` and `sim collateral --tee tdx` (issue #17): the CLI makes TDX quotes v4 and v5 (TD
// report 1.0 and 1.5) with the TD report fields and TEE_TCB_SVN asked for, `warden verify` reads each field back,
// and the development commands (`verify --dev`, `policy test --dev`) make TDX collateral for a TDX quote.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { SIM_TD } from '../src/sim/td-report.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-sim-tdx-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const pki = path.join(tmp, 'pki');
const file = (name: string) => path.join(tmp, name);

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function verifyJson(quote: string, collateral: string) {
  const r = await cli('verify', '--quote', quote, '--collateral', collateral, '--root-ca', path.join(pki, 'root_ca.pem'), '--json');
  return { code: r.code, j: JSON.parse(r.out) as { ok: boolean; status: string | null; advisoryIds: string[]; report: Record<string, unknown>; error: { code: string } | null } };
}

const hex48 = (byte: string) => byte.repeat(48);

test('sim quote --tee tdx: every TD report field asked for is in the quote warden verify reads', async () => {
  assert.equal((await cli('sim', 'init', '--out', pki)).code, 0);
  const c = await cli('sim', 'collateral', '--pki', pki, '--tee', 'tdx', '--fmspc', '00906ED50000', '--out', file('tdx.json'), '--json');
  assert.equal(c.code, 0, c.err);
  assert.equal(JSON.parse(c.out).tee, 'tdx');
  const fields = { mrtd: hex48('a1'), rtmr0: hex48('b0'), rtmr1: hex48('b1'), rtmr2: hex48('b2'), rtmr3: hex48('b3'), mrconfigid: hex48('c1'), mrowner: hex48('c2'), mrownerconfig: hex48('c3'), mrseam: hex48('d1') };
  const reportData = 'ee'.repeat(32);
  const q = await cli('sim', 'quote', '--pki', pki, '--tee', 'tdx', '--report-data', reportData, ...Object.entries(fields).flatMap(([k, v]) => [`--${k}`, v]), '--out', file('td4.bin'), '--json');
  assert.equal(q.code, 0, q.err);
  assert.equal(JSON.parse(q.out).teeType, 'TDX');
  const { code, j } = await verifyJson(file('td4.bin'), file('tdx.json'));
  assert.equal(code, 0, JSON.stringify(j.error));
  assert.equal(j.status, 'UpToDate');
  assert.deepEqual(
    { ...j.report },
    {
      version: 4,
      teeType: 'TDX',
      teeTcbSvn: SIM_TD.teeTcbSvn.toString('hex'),
      mrSeam: fields.mrseam,
      mrSignerSeam: '00'.repeat(48),
      seamAttributes: '00'.repeat(8),
      tdAttributes: '0000001000000000',
      xfam: SIM_TD.xfam.toString('hex'),
      mrTd: fields.mrtd,
      mrConfigId: fields.mrconfigid,
      mrOwner: fields.mrowner,
      mrOwnerConfig: fields.mrownerconfig,
      rtmr0: fields.rtmr0,
      rtmr1: fields.rtmr1,
      rtmr2: fields.rtmr2,
      rtmr3: fields.rtmr3,
      debug: false,
      reportData: reportData + '00'.repeat(32),
    },
  );
  // The SGX collateral of the same platform is not for a TD: TCB Info id SGX.
  assert.equal((await cli('sim', 'collateral', '--pki', pki, '--fmspc', '00906ED50000', '--out', file('sgx.json'))).code, 0);
  const wrong = await verifyJson(file('td4.bin'), file('sgx.json'));
  assert.equal(wrong.code, 1);
  assert.equal(wrong.j.error!.code, 'tcb_info_mismatch');
});

test('sim quote --tee tdx: v5 with TD report 1.0 and 1.5, a chosen TEE_TCB_SVN (and _2), a debug TD, the platform status', async () => {
  // TD report 1.5 needs v5, which is then the default version.
  let r = await cli('sim', 'quote', '--pki', pki, '--tee', 'tdx', '--td-report', '1.5', '--tee-tcb-svn2', '06010300000000000000000000000000', '--out', file('td5.bin'));
  assert.equal(r.code, 0, r.err);
  let v = await verifyJson(file('td5.bin'), file('tdx.json'));
  assert.equal(v.j.status, 'UpToDate');
  assert.equal(v.j.report.version, 5);
  assert.equal(v.j.report.teeTcbSvn2, '06010300000000000000000000000000');
  assert.equal(v.j.report.mrServiceTd, '00'.repeat(48));
  assert.equal(v.j.report.mrTd, SIM_TD.mrTd.toString('hex'));
  // v5 with TD report 1.0: no 1.5 fields.
  r = await cli('sim', 'quote', '--pki', pki, '--tee', 'tdx', '--quote-version', '5', '--out', file('td50.bin'));
  v = await verifyJson(file('td50.bin'), file('tdx.json'));
  assert.equal(v.j.report.version, 5);
  assert.equal('teeTcbSvn2' in v.j.report, false);
  // TEE_TCB_SVN with an older TDX microcode SVN (component 2) lands on the sim's OutOfDate TDX level.
  r = await cli('sim', 'quote', '--pki', pki, '--tee', 'tdx', '--tee-tcb-svn', '05010200000000000000000000000000', '--debug', '--out', file('old.bin'));
  assert.equal(r.code, 0, r.err);
  v = await verifyJson(file('old.bin'), file('tdx.json'));
  assert.equal(v.j.status, 'OutOfDate');
  assert.deepEqual(v.j.advisoryIds, ['INTEL-SA-01036']);
  assert.equal(v.j.report.debug, true);
  assert.equal(v.j.report.tdAttributes, '0100001000000000');
  // --tcb-status picks the platform's SGX level, as for SGX quotes.
  r = await cli('sim', 'quote', '--pki', pki, '--tee', 'tdx', '--tcb-status', 'SWHardeningNeeded', '--out', file('swh.bin'));
  v = await verifyJson(file('swh.bin'), file('tdx.json'));
  assert.equal(v.j.status, 'SWHardeningNeeded');
});

test('sim quote: TD flags without --tee tdx, SGX flags with it, and impossible versions are one-line usage errors', async () => {
  for (const args of [
    ['--mrtd', hex48('00')],
    ['--td-report', '1.5'],
    ['--tee', 'tdx', '--mrenclave', '00'.repeat(32)],
    ['--tee', 'tdx', '--isvsvn', '1'],
    ['--tee', 'tdx', '--quote-version', '3'],
    ['--tee', 'tdx', '--quote-version', '4', '--td-report', '1.5'],
    ['--tee', 'tdx', '--tee-tcb-svn2', '00'.repeat(16)],
    ['--tee', 'tdx', '--mrtd', '00'.repeat(32)],
    ['--tee', 'tdx', '--tee-tcb-svn', '0501'],
    ['--tee', 'sev'],
  ]) {
    const r = await cli('sim', 'quote', '--pki', path.join(tmp, 'never'), ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.err.split('\n').length, 1, r.err);
  }
  assert.equal(fs.existsSync(path.join(tmp, 'never')), false, 'a usage error creates no PKI');
  assert.equal((await cli('sim', 'collateral', '--pki', pki, '--fmspc', '00906ED50000', '--tee', 'sev', '--out', file('x.json'))).code, 2);
});

test("sim quote's help names the TD flags; sim collateral's names --tee", async () => {
  const h = await cli('sim', 'quote', '--help');
  assert.equal(h.code, 0);
  for (const flag of ['--tee sgx|tdx', '--mrtd HEX', '--rtmr0 HEX', '--rtmr3 HEX', '--tee-tcb-svn HEX', '--td-report 1.0|1.5', '--quote-version 3|4|5']) assert.ok(h.out.includes(flag), flag);
  assert.match(h.out, /^ +warden sim quote --tee tdx/m, 'a second form for a TD');
  assert.match((await cli('sim', 'collateral', '--help')).out, /--tee sgx\|tdx/);
});

test('verify --dev and policy test --dev make TDX collateral for a TDX quote from the data directory\'s sim PKI', async () => {
  const data = path.join(tmp, 'data');
  assert.equal((await cli('sim', 'init', '--out', path.join(data, 'sim-pki'))).code, 0);
  assert.equal((await cli('sim', 'quote', '--pki', path.join(data, 'sim-pki'), '--tee', 'tdx', '--out', file('dev-td.bin'))).code, 0);
  const r = await cli('verify', '--dev', '--data', data, '--quote', file('dev-td.bin'), '--json');
  assert.equal(r.code, 0, r.out);
  assert.equal(JSON.parse(r.out).report.teeType, 'TDX');
  const pol = path.join(tmp, 'policies');
  fs.mkdirSync(pol);
  const h = (b: Buffer) => b.toString('hex');
  fs.writeFileSync(
    path.join(pol, 'vm.yaml'),
    ['name: vm', 'version: 1', 'tee: tdx', 'match:', `  - mrtd: ${h(SIM_TD.mrTd)}`, `    rtmr0: ${h(SIM_TD.rtmr0)}`, `    rtmr1: ${h(SIM_TD.rtmr1)}`, `    rtmr2: ${h(SIM_TD.rtmr2)}`, 'secrets: [vm-disk]', ''].join('\n'),
  );
  const p = await cli('policy', 'test', '--dev', '--data', data, '--policies', pol, '--quote', file('dev-td.bin'), '--json');
  assert.equal(p.code, 0, p.out + p.err);
  // --dev's built-in dev-demo-td policy names the sim TD too.
  assert.deepEqual(JSON.parse(p.out).secrets, ['demo-sefs-key', 'vm-disk']);
});
