// Where the server gets collateral for a quote: the collateral cache/PCCS client, or the sim PKI in dev mode.
import type { Collateral, PckCaKind, TeeType } from '../dcap/types.ts';
import type { CollateralReadiness } from '../collateral/provider.ts';

export interface CollateralSource {
  /** Collateral for one platform and TEE type; throws CollateralUnavailableError (src/collateral/errors.ts) when none valid can be had. */
  get(fmspc: string, ca: PckCaKind, now?: Date, tee?: TeeType): Promise<Collateral>;
  /** For /readyz: whether collateral can be served, and until when without the sources (degraded). */
  readiness?(): Promise<CollateralReadiness>;
  /** Cache counters for /metrics, when the source has a cache. */
  stats?(): { hits: number; misses: number };
}
