// TCB level selection and status convergence, on hand-written TCB Info.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VerificationError } from '../src/dcap/errors.ts';
import { convergeStatus } from '../src/dcap/status.ts';
import { matchTcbLevel, parseTcbInfo } from '../src/dcap/tcb-info.ts';
import { TCB_STATUSES, type TcbStatus } from '../src/dcap/types.ts';

function level(svns: number[], pcesvn: number, status: string, extra: Record<string, unknown> = {}) {
  const comps = [...svns, ...Array(16 - svns.length).fill(0)].map((svn) => ({ svn }));
  return { tcb: { sgxtcbcomponents: comps, pcesvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: status, ...extra };
}

function tcbInfo(levels: unknown[], version = 3): string {
  return JSON.stringify({ id: 'SGX', version, issueDate: '2025-01-01T00:00:00Z', nextUpdate: '2025-02-01T00:00:00Z', fmspc: '00906ed50000', pceId: '0000', tcbType: 0, tcbEvaluationDataNumber: 17, tcbLevels: levels });
}

const pck = (svns: number[]) => [...svns, ...Array(16 - svns.length).fill(0)];

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VerificationError);
    return e.code;
  }
  return 'none';
}

describe('TCB level selection', () => {
  it('compares component by component, never lexicographically', () => {
    const info = parseTcbInfo(tcbInfo([level([4, 9], 13, 'UpToDate'), level([1, 0], 10, 'OutOfDate')]));
    // [5,0] > [4,9] as a vector, but component 2 (0 < 9) does not meet the level.
    assert.equal(matchTcbLevel(info, pck([5, 0]), 13)?.status, 'OutOfDate');
    assert.equal(matchTcbLevel(info, pck([4, 9]), 13)?.status, 'UpToDate');
  });

  it('sorts levels itself: JSON order does not matter', () => {
    const levels = [level([1], 1, 'OutOfDate'), level([3], 5, 'UpToDate'), level([2], 5, 'SWHardeningNeeded')];
    for (const order of [levels, [...levels].reverse()]) {
      const info = parseTcbInfo(tcbInfo(order));
      assert.equal(matchTcbLevel(info, pck([3]), 5)?.status, 'UpToDate');
      assert.equal(matchTcbLevel(info, pck([2]), 9)?.status, 'SWHardeningNeeded');
    }
  });

  it('requires PCESVN to meet the level too', () => {
    const info = parseTcbInfo(tcbInfo([level([2], 13, 'UpToDate'), level([2], 10, 'OutOfDate')]));
    assert.equal(matchTcbLevel(info, pck([9]), 12)?.status, 'OutOfDate');
    assert.equal(matchTcbLevel(info, pck([9]), 9), null);
  });

  it('reads TCB Info v2 components', () => {
    const tcb: Record<string, number> = { pcesvn: 7 };
    for (let i = 1; i <= 16; i++) tcb[`sgxtcbcomp${String(i).padStart(2, '0')}svn`] = i === 1 ? 3 : 0;
    const v2 = JSON.stringify({ version: 2, issueDate: '2025-01-01T00:00:00Z', nextUpdate: '2025-02-01T00:00:00Z', fmspc: '00906ed50000', pceId: '0000', tcbType: 0, tcbEvaluationDataNumber: 5, tcbLevels: [{ tcb, tcbDate: '2024-01-01T00:00:00Z', tcbStatus: 'UpToDate' }] });
    const info = parseTcbInfo(v2);
    assert.equal(info.version, 2);
    assert.equal(matchTcbLevel(info, pck([3]), 7)?.status, 'UpToDate');
    assert.equal(matchTcbLevel(info, pck([2]), 7), null);
  });

  it('rejects a level with other than 16 components, and unknown statuses', () => {
    const short = level([1], 1, 'UpToDate');
    (short.tcb.sgxtcbcomponents as unknown[]).pop();
    assert.equal(code(() => parseTcbInfo(tcbInfo([short]))), 'tcb_not_supported');
    assert.equal(code(() => parseTcbInfo(tcbInfo([level([1], 1, 'UpToDate'), level([0], 0, 'MostlyFine')]))), 'tcb_not_supported');
    assert.equal(code(() => parseTcbInfo(tcbInfo([level([1], 1, 'UpToDate')], 4))), 'malformed_collateral');
    assert.equal(code(() => parseTcbInfo('{"version":3')), 'malformed_collateral');
  });
});

describe("status convergence (Intel's table, not the worst of the two)", () => {
  const expectedWithQeOutOfDate: Record<TcbStatus, TcbStatus> = {
    UpToDate: 'OutOfDate',
    SWHardeningNeeded: 'OutOfDate',
    ConfigurationNeeded: 'OutOfDateConfigurationNeeded',
    ConfigurationAndSWHardeningNeeded: 'OutOfDateConfigurationNeeded',
    OutOfDate: 'OutOfDate',
    OutOfDateConfigurationNeeded: 'OutOfDateConfigurationNeeded',
    Revoked: 'Revoked',
  };
  for (const platform of TCB_STATUSES) {
    it(`QE UpToDate / OutOfDate / Revoked / none with platform ${platform}`, () => {
      assert.equal(convergeStatus('UpToDate', platform), platform);
      assert.equal(convergeStatus('OutOfDate', platform), expectedWithQeOutOfDate[platform]);
      assert.equal(convergeStatus('Revoked', platform), 'Revoked');
      // A QE below every QE level: TCB_NOT_SUPPORTED whatever the platform (convergeTcbStatusWithQeTcbStatus).
      assert.equal(convergeStatus('NotSupported', platform), 'NotSupported');
    });
  }
});
