// Intel's convergence of the QE's TCB status with the platform's (QVL, not "the worst wins"):
// convergeTcbStatusWithQeTcbStatus in Verifiers/Checks/TcbLevelCheck.cpp, in its order.
import type { QeStatus } from './qe-identity.ts';
import type { TcbStatus, VerifiedStatus } from './types.ts';

/** The converged status; NotSupported when the QE has no TCB level (Intel's TCB_NOT_SUPPORTED). */
export function convergeStatus(qe: QeStatus, platform: VerifiedStatus): VerifiedStatus | 'NotSupported' {
  if (qe === 'OutOfDate') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  if (qe === 'Revoked') return 'Revoked';
  if (qe === 'NotSupported') return 'NotSupported';
  return platform;
}

/**
 * A TDX platform level's status with the TDX module's (TdxModuleCheck.cpp convergeTcbStatusWithTdxModuleStatus):
 * the same table, with the module status in the QE's row.
 */
export function convergeWithModule(platform: TcbStatus, module: TcbStatus): TcbStatus {
  if (module === 'OutOfDate') {
    if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
    if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  if (module === 'Revoked') return 'Revoked';
  return platform;
}
