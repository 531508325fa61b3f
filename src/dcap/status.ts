// Intel's convergence of the QE's TCB status with the platform's (QVL, not "the worst wins").
import type { TcbStatus } from './types.ts';

export function convergeStatus(qe: TcbStatus, platform: TcbStatus): TcbStatus {
  if (qe === 'Revoked' || platform === 'Revoked') return 'Revoked';
  if (qe === 'OutOfDate') {
    switch (platform) {
      case 'UpToDate':
      case 'SWHardeningNeeded':
      case 'OutOfDate':
        return 'OutOfDate';
      case 'ConfigurationNeeded':
      case 'ConfigurationAndSWHardeningNeeded':
      case 'OutOfDateConfigurationNeeded':
        return 'OutOfDateConfigurationNeeded';
    }
  }
  return platform;
}
