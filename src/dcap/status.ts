// Intel's convergence of the QE's TCB status with the platform's (QVL, not "the worst wins"):
// convergeTcbStatusWithQeTcbStatus in Verifiers/Checks/TcbLevelCheck.cpp, in its order.
import type { QeStatus } from './qe-identity.ts';
import type { TcbStatus } from './types.ts';

/** The converged status; NotSupported when the QE has no TCB level (Intel's TCB_NOT_SUPPORTED). */
export function convergeStatus(qe: QeStatus, platform: TcbStatus): TcbStatus | 'NotSupported' {
  if (qe === 'OutOfDate') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  if (qe === 'Revoked') return 'Revoked';
  if (qe === 'NotSupported') return 'NotSupported';
  return platform;
}
