// TDX quotes through the verifier: the simulator drives every TDX branch of Intel's QVL (QuoteVerifier.cpp
// 4.1.2.4.9-.17, Checks/TcbLevelCheck.cpp, TdxModuleCheck.cpp, TDRelaunchCheck.cpp). The expected statuses
// are written out from Intel's tables here, not computed with Warden's own functions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Collateral, TcbStatus } from '../src/dcap/types.ts';
import { verifyQuote } from '../src/dcap/verify.ts';
import {
  DEFAULT_TCB_LEVELS,
  makeCollateral,
  makeQuote,
  tcbForStatus,
  type CollateralOptions,
  type SimPlatform,
  type TcbLevelSpec,
  type TdxModuleSpec,
} from '../src/sim/index.ts';
import { at, codeOf, outcome, pki, platform, rejects, svn, tdxCollateral, tdxQuote, verify } from './helpers/tdx-world.ts';

test('TD_QE vs QE identity ids, both ways', async () => {
  assert.equal(await outcome({}, { qeIdentity: { id: 'QE' } }), 'qe_identity_mismatch');
  const sgx = makeQuote({ platform, version: 4 });
  const sgxWithTdQe = await makeCollateral(pki, { at, platform, qeIdentity: { id: 'TD_QE' } });
  rejects('qe_identity_mismatch', () => verifyQuote(sgx, sgxWithTdQe, { at, trustedRoot: pki.rootPem }));
  // The TD QE report carries TD_QE's MRSIGNER and ISVPRODID: the SGX QE's identity fields do not match it.
  assert.equal(await outcome({}, { qeIdentity: { id: 'TD_QE', isvprodid: 1 } }), 'qe_identity_mismatch');
});

test('SGX vs TDX TCB Info: a TDX quote needs TCB Info v3 with id TDX, an SGX quote id SGX', async () => {
  const quote = tdxQuote();
  const sgxTcbInfo = await makeCollateral(pki, { at, platform, qeIdentity: { id: 'TD_QE' } });
  rejects('tcb_info_mismatch', () => verify(quote, sgxTcbInfo));
  const v2 = await makeCollateral(pki, { at, platform, qeIdentity: { id: 'TD_QE' }, tcbInfo: { version: 2 } });
  rejects('tcb_info_mismatch', () => verify(quote, v2));
  const sgx = makeQuote({ platform, version: 4 });
  const tdxInfo = await makeCollateral(pki, { at, platform, tcbInfo: { id: 'TDX' } });
  rejects('tcb_info_mismatch', () => verifyQuote(sgx, tdxInfo, { at, trustedRoot: pki.rootPem }));
});

test('TDX TCB Info is parsed as strictly as Intel parses it', async () => {
  // tdxModule is required in TDX TCB Info, refused in SGX TCB Info; tdxtcbcomponents must hold 16.
  assert.equal(await outcome({}, { tcbInfo: { tdxModule: null } }), 'malformed_collateral');
  const sgxWithModule = JSON.parse((await makeCollateral(pki, { at, platform })).tcbInfo) as Record<string, unknown>;
  sgxWithModule.tdxModule = { mrsigner: '00'.repeat(48), attributes: '00'.repeat(8), attributesMask: 'ff'.repeat(8) };
  const text = JSON.stringify(sgxWithModule);
  const sgxColl = await makeCollateral(pki, { at, platform, tcbInfoText: text });
  rejects('malformed_collateral', () => verifyQuote(makeQuote({ platform }), sgxColl, { at, trustedRoot: pki.rootPem }));
  const short: TcbLevelSpec[] = [{ ...DEFAULT_TCB_LEVELS[0]!, tdxComponents: [5, 0, 3] }];
  assert.equal(await outcome({}, { tcbInfo: { levels: short } }), 'tcb_not_supported');
  // Two levels for one TCB (SGX, PCESVN and TDX components) are refused; differing only in TDX components they are not.
  const twice: TcbLevelSpec[] = [
    { ...DEFAULT_TCB_LEVELS[0]!, tdxComponents: svn(5, 0, 3) },
    { ...DEFAULT_TCB_LEVELS[0]!, tdxComponents: svn(5, 0, 3), tcbStatus: 'Revoked' },
  ];
  assert.equal(await outcome({}, { tcbInfo: { levels: twice } }), 'malformed_collateral');
  // Module levels: statuses UpToDate, OutOfDate, Revoked only; one level per ISVSVN.
  const moduleWith = (levels: TdxModuleSpec['tcbLevels']): CollateralOptions => ({ tcbInfo: { tdxModuleIdentities: [{ id: 'TDX_01', tcbLevels: levels! }] } });
  assert.equal(await outcome({}, moduleWith([{ isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'ConfigurationNeeded' }])), 'tcb_not_supported');
  assert.equal(
    await outcome(
      {},
      moduleWith([
        { isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
        { isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'Revoked' },
      ]),
    ),
    'malformed_collateral',
  );
});

test('each TDX module status merged with each platform status (TdxModuleCheck.cpp convergeTcbStatusWithTdxModuleStatus)', async () => {
  // Platform status by the PCK certificate's TCB; module status by TEE_TCB_SVN[0] against TDX_01's levels
  // (5 UpToDate, 3 OutOfDate, 1 Revoked). Intel's table, written out:
  const expected: Record<string, Record<'UpToDate' | 'OutOfDate' | 'Revoked', string>> = {
    UpToDate: { UpToDate: 'UpToDate', OutOfDate: 'OutOfDate', Revoked: 'revoked' },
    SWHardeningNeeded: { UpToDate: 'SWHardeningNeeded', OutOfDate: 'OutOfDate', Revoked: 'revoked' },
    ConfigurationNeeded: { UpToDate: 'ConfigurationNeeded', OutOfDate: 'OutOfDateConfigurationNeeded', Revoked: 'revoked' },
    ConfigurationAndSWHardeningNeeded: { UpToDate: 'ConfigurationAndSWHardeningNeeded', OutOfDate: 'OutOfDateConfigurationNeeded', Revoked: 'revoked' },
    OutOfDate: { UpToDate: 'OutOfDate', OutOfDate: 'OutOfDate', Revoked: 'revoked' },
    OutOfDateConfigurationNeeded: { UpToDate: 'OutOfDateConfigurationNeeded', OutOfDate: 'OutOfDateConfigurationNeeded', Revoked: 'revoked' },
    Revoked: { UpToDate: 'revoked', OutOfDate: 'revoked', Revoked: 'revoked' },
  };
  const moduleSvn = { UpToDate: 5, OutOfDate: 3, Revoked: 1 } as const;
  for (const [platformStatus, row] of Object.entries(expected)) {
    const p = await pki.platform(tcbForStatus(platformStatus as TcbStatus), at);
    const c = await tdxCollateral({}, p);
    for (const [moduleStatus, want] of Object.entries(row)) {
      const quote = tdxQuote({ teeTcbSvn: svn(moduleSvn[moduleStatus as keyof typeof moduleSvn], 1, 3) }, {}, p);
      let got = '';
      const code = codeOf(() => (got = verify(quote, c).status));
      assert.equal(code === 'verified' ? got : code, want, `platform ${platformStatus}, module ${moduleStatus}`);
    }
  }
  // The module level's own facts are reported beside the platform's.
  const v = verify(tdxQuote({ teeTcbSvn: svn(3, 1, 3) }), await tdxCollateral());
  assert.deepEqual(v.tdx, { sgxStatus: 'UpToDate', moduleIdentity: 'TDX_01', moduleStatus: 'OutOfDate', moduleTcbDate: '2023-08-09T00:00:00Z', moduleAdvisoryIds: ['INTEL-SA-00960'] });
  assert.equal(v.platformStatus, 'UpToDate');
  // A module ISVSVN below every level of its identity.
  assert.equal(await outcome({ teeTcbSvn: svn(0, 1, 3) }), 'tcb_not_supported');
});

test('the QE status is folded in last: TD QE OutOfDate with each platform status', async () => {
  const expected: Record<string, string> = {
    UpToDate: 'OutOfDate',
    SWHardeningNeeded: 'OutOfDate',
    ConfigurationNeeded: 'OutOfDateConfigurationNeeded',
    ConfigurationAndSWHardeningNeeded: 'OutOfDateConfigurationNeeded',
    OutOfDate: 'OutOfDate',
    OutOfDateConfigurationNeeded: 'OutOfDateConfigurationNeeded',
  };
  for (const [platformStatus, want] of Object.entries(expected)) {
    const p = await pki.platform(tcbForStatus(platformStatus as TcbStatus), at);
    assert.equal(await outcome({}, {}, { qeReport: { isvSvn: 2 } }, p), want, platformStatus);
  }
  // A TD QE below every TD_QE level; a Revoked TD QE.
  assert.equal(await outcome({}, {}, { qeReport: { isvSvn: 1 } }), 'tcb_not_supported');
  assert.equal(await outcome({}, { qeIdentity: { levels: [{ isvsvn: 4, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'Revoked' }] } }), 'revoked');
});

test('a missing module identity, and no module identities at all', async () => {
  // Major version 2: TCB Info has TDX_01 and TDX_03 only (TdxModuleCheck.cpp findTdxModuleIdentity).
  assert.equal(await outcome({ teeTcbSvn: svn(5, 2, 3) }), 'tdx_module_mismatch');
  // The id is compared case-insensitively.
  assert.equal(await outcome({ teeTcbSvn: svn(3, 3, 3) }, { tcbInfo: { tdxModuleIdentities: [{ id: 'tdx_03', tcbLevels: [{ isvsvn: 3, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }] }] } }), 'UpToDate');
  // Major version above 0 and TCB Info without tdxModuleIdentities (QuoteVerifier.cpp: TCB_INFO_MISMATCH).
  assert.equal(await outcome({}, { tcbInfo: { tdxModuleIdentities: null } }), 'tcb_info_mismatch');
  // Major version 0: tdxModule's signer and attributes, no module level (Intel counts it UpToDate), and
  // TEE_TCB_SVN components 0 and 1 are compared with the TCB level too.
  const v = verify(tdxQuote({ teeTcbSvn: svn(5, 0, 3) }), await tdxCollateral({ tcbInfo: { tdxModuleIdentities: null } }));
  assert.equal(v.status, 'UpToDate');
  assert.deepEqual(v.tdx, { sgxStatus: 'UpToDate', moduleIdentity: null, moduleStatus: null, moduleTcbDate: null, moduleAdvisoryIds: [] });
  // ISVSVN 4 < the level's 5 at component 0: the next level (TDX components 3,0,2, OutOfDate) matches.
  assert.equal(await outcome({ teeTcbSvn: svn(4, 0, 3) }), 'OutOfDate');
});

test('MRSIGNERSEAM and SEAMATTRIBUTES mismatches', async () => {
  for (const major of [0, 1]) {
    const base = svn(5, major, 3);
    assert.equal(await outcome({ teeTcbSvn: base }), 'UpToDate', `major ${major}`);
    assert.equal(await outcome({ teeTcbSvn: base, mrSignerSeam: Buffer.alloc(48, 1) }), 'tdx_module_mismatch', `major ${major}: MRSIGNERSEAM`);
    assert.equal(await outcome({ teeTcbSvn: base, seamAttributes: Buffer.from('0100000000000000', 'hex') }), 'tdx_module_mismatch', `major ${major}: SEAMATTRIBUTES`);
    // Intel requires SEAMATTRIBUTES to be zero: TCB Info asking for a set bit cannot be met, whatever the mask.
    const setBit: TdxModuleSpec = { attributes: '0100000000000000', attributesMask: '0000000000000000' };
    const tcbInfo = major === 0 ? { tdxModule: setBit } : { tdxModuleIdentities: [{ id: 'TDX_01', ...setBit, tcbLevels: [{ isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }] }] };
    assert.equal(await outcome({ teeTcbSvn: base, seamAttributes: Buffer.from('0100000000000000', 'hex') }, { tcbInfo }), 'tdx_module_mismatch', `major ${major}: set bit`);
  }
  // A module signed by someone else, and TCB Info naming that signer: it verifies (the signer is TCB Info's to name).
  const signer = 'ab'.repeat(48);
  assert.equal(
    await outcome({ mrSignerSeam: Buffer.from(signer, 'hex') }, { tcbInfo: { tdxModuleIdentities: [{ id: 'TDX_01', mrsigner: signer, tcbLevels: [{ isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }] }] } }),
    'UpToDate',
  );
  // With major version 1 the identity's signer counts, not tdxModule's.
  assert.equal(await outcome({ mrSignerSeam: Buffer.from(signer, 'hex') }, { tcbInfo: { tdxModule: { mrsigner: signer } } }), 'tdx_module_mismatch');
});

test('TEE_TCB_SVN above, equal to and below each TDX level, component by component', async () => {
  // Two levels on the same SGX TCB: all TDX components 4 (UpToDate), all 2 (OutOfDate).
  const sgx = DEFAULT_TCB_LEVELS[0]!;
  const levels: TcbLevelSpec[] = [
    { ...sgx, tdxComponents: new Array<number>(16).fill(4), tcbStatus: 'UpToDate' },
    { ...sgx, tdxComponents: new Array<number>(16).fill(2), tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00001'] },
  ];
  const c1 = await tdxCollateral({ tcbInfo: { levels } }); // with TDX_01 (ISVSVN 5 UpToDate, 3 OutOfDate)
  const statusOf = (teeTcbSvn: number[], coll: Collateral): string => {
    let s = '';
    const code = codeOf(() => (s = verify(tdxQuote({ teeTcbSvn }), coll).status));
    return code === 'verified' ? s : code;
  };
  for (let i = 2; i < 16; i++) {
    // Major version 1 (TEE_TCB_SVN[1] = 1): components 0 and 1 are skipped; 0 is the module's ISVSVN (5: UpToDate).
    {
      const v = (x: number): number[] => {
        const t = new Array<number>(16).fill(4);
        t[0] = 5;
        t[1] = 1;
        t[i] = x;
        return t;
      };
      assert.equal(statusOf(v(5), c1), 'UpToDate', `component ${i} above`);
      assert.equal(statusOf(v(4), c1), 'UpToDate', `component ${i} equal`);
      assert.equal(statusOf(v(3), c1), 'OutOfDate', `component ${i} below the first level`);
      assert.equal(statusOf(v(2), c1), 'OutOfDate', `component ${i} equal to the second`);
      assert.equal(statusOf(v(1), c1), 'tcb_not_supported', `component ${i} below every level`);
    }
  }
  // Major version 1: components 0 and 1 are never compared with the TCB level (the module identity judges them).
  const skip = new Array<number>(16).fill(4);
  skip[0] = 5;
  skip[1] = 1;
  const high = [{ ...levels[0]!, tdxComponents: [200, 200, ...new Array<number>(14).fill(4)] }, levels[1]!];
  assert.equal(statusOf(skip, await tdxCollateral({ tcbInfo: { levels: high } })), 'UpToDate');
  // Major version 0: components 0 and 2..15 all count (component 1 is 0 on both levels here).
  const zero = [
    { ...sgx, tdxComponents: [4, 0, ...new Array<number>(14).fill(4)], tcbStatus: 'UpToDate' },
    { ...sgx, tdxComponents: [2, 0, ...new Array<number>(14).fill(2)], tcbStatus: 'OutOfDate' },
  ];
  const c0 = await tdxCollateral({ tcbInfo: { levels: zero, tdxModuleIdentities: null } });
  for (const i of [0, ...Array.from({ length: 14 }, (_, k) => k + 2)]) {
    const v = (x: number): number[] => {
      const t = [4, 0, ...new Array<number>(14).fill(4)];
      t[i] = x;
      return t;
    };
    assert.equal(statusOf(v(5), c0), 'UpToDate', `major 0, component ${i} above`);
    assert.equal(statusOf(v(4), c0), 'UpToDate', `major 0, component ${i} equal`);
    assert.equal(statusOf(v(3), c0), 'OutOfDate', `major 0, component ${i} below`);
    assert.equal(statusOf(v(1), c0), 'tcb_not_supported', `major 0, component ${i} below every level`);
  }
  // A platform whose SGX TCB meets no level: TCB_NOT_SUPPORTED before any TDX component is looked at.
  const old = await pki.platform({ tcbComponents: svn(1), pceSvn: 1 }, at);
  assert.equal(await outcome({}, {}, {}, old), 'tcb_not_supported');
  // The matched TDX level gives the advisories (here on the OutOfDate level).
  const v = verify(tdxQuote({ teeTcbSvn: [5, 1, ...new Array<number>(14).fill(3)] }), c1);
  assert.deepEqual(v.advisoryIds, ['INTEL-SA-00001']);
  assert.equal(v.tdx.sgxStatus, 'UpToDate');
});

test('v5 TD 1.5 quotes: the relaunch advice of TDRelaunchCheck.cpp', async () => {
  // The module is out of date (TEE_TCB_SVN[0] 3 < TDX_01's current 5); TEE_TCB_SVN_2 says which module is loaded now.
  const run = async (teeTcbSvn2: number[], o: { platform?: SimPlatform; qeIsvSvn?: number; version?: '1.0' | '1.5'; c?: CollateralOptions } = {}) => {
    const p = o.platform ?? platform;
    const collateral = await tdxCollateral(o.c ?? {}, p);
    const quote = makeQuote({ platform: p, version: 5, td: { version: o.version ?? '1.5', teeTcbSvn: svn(3, 1, 3), teeTcbSvn2 }, ...(o.qeIsvSvn ? { qeReport: { isvSvn: o.qeIsvSvn } } : {}) });
    let s = '';
    const code = codeOf(() => (s = verify(quote, collateral).status));
    return code === 'verified' ? s : code;
  };
  assert.equal(await run(svn(5, 1, 3)), 'TDRelaunchAdvised');
  assert.equal(await run(svn(6, 1, 4)), 'TDRelaunchAdvised');
  // Not yet current: the loaded module's ISVSVN, or its late microcode SVN, is below the newest level's.
  assert.equal(await run(svn(4, 1, 3)), 'OutOfDate');
  assert.equal(await run(svn(5, 1, 2)), 'OutOfDate');
  // A configuration-needed SGX level gives the configuration-needed advice.
  const cfg = await pki.platform(tcbForStatus('ConfigurationNeeded'), at);
  assert.equal(await run(svn(5, 1, 3), { platform: cfg }), 'TDRelaunchAdvisedConfigurationNeeded');
  // An SGX level that is itself out of date: no advice (the TD's own relaunch would not help).
  const ood = await pki.platform(tcbForStatus('OutOfDate'), at);
  assert.equal(await run(svn(5, 1, 3), { platform: ood }), 'OutOfDate');
  // An out-of-date TD QE: no advice, and the QE's status is folded in.
  assert.equal(await run(svn(5, 1, 3), { qeIsvSvn: 2 }), 'OutOfDate');
  // TEE_TCB_SVN_2 naming a major version TCB Info has no identity for.
  assert.equal(await run(svn(5, 2, 3)), 'tdx_module_mismatch');
  // TEE_TCB_SVN_2 of major version 0: compared with the newest TCB level's TDX components 0 and 2 (5, 3).
  assert.equal(await run(svn(5, 0, 3)), 'TDRelaunchAdvised');
  assert.equal(await run(svn(4, 0, 3)), 'OutOfDate');
  // TD report 1.0 carries no TEE_TCB_SVN_2: the same quote in v5 body type 2 stays OutOfDate.
  assert.equal(await run(svn(5, 1, 3), { version: '1.0' }), 'OutOfDate');
  // A module that is current needs no advice.
  const current = await tdxCollateral();
  assert.equal(verify(makeQuote({ platform, version: 5, td: { version: '1.5', teeTcbSvn: svn(5, 1, 3), teeTcbSvn2: svn(6, 1, 4) } }), current).status, 'UpToDate');
});

test('the same fail-closed rules as SGX: expired or not-yet-valid TDX collateral, Revoked levels', async () => {
  const DAY = 86_400_000;
  assert.equal(await outcome({}, { tcbInfo: { nextUpdate: new Date(at.getTime() - DAY) } }), 'collateral_expired');
  assert.equal(await outcome({}, { tcbInfo: { issueDate: new Date(at.getTime() + DAY) } }), 'collateral_expired');
  assert.equal(await outcome({}, { qeIdentity: { nextUpdate: new Date(at.getTime() - DAY) } }), 'collateral_expired');
  // The default TDX history has a Revoked level at TDX components 2,0,1 (TEE_TCB_SVN major version 1 skips 0 and 1).
  assert.equal(await outcome({ teeTcbSvn: svn(5, 1, 1) }), 'revoked');
  assert.equal(await outcome({ teeTcbSvn: svn(5, 1, 2) }), 'OutOfDate');
  // A revoked PCK certificate.
  const revokedPlatform = await pki.platform({}, at);
  const c = await tdxCollateral({ pckCrl: { revoked: [revokedPlatform.serialNumber] } }, revokedPlatform);
  rejects('revoked', () => verify(tdxQuote({}, {}, revokedPlatform), c));
  // A TDX quote signed by another key than the one the TD QE certified.
  const c2 = await tdxCollateral();
  rejects('signature_invalid', () => verify(tdxQuote({}, { corrupt: { isvSignature: true } }), c2));
  // Every byte of the TD report is signed.
  const q = Buffer.from(tdxQuote());
  q[48 + 136]! ^= 1; // MRTD
  rejects('signature_invalid', () => verify(q, c2));
});
