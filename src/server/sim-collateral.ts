// Development collateral straight from the simulated PKI (`--dev` without `--pccs`).
import type { Collateral, PckCaKind, TeeType } from '../dcap/types.ts';
import { makeCollateral } from '../sim/collateral.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import type { SimPki } from '../sim/pki.ts';
import type { CollateralSource } from './collateral-source.ts';

/** Fresh sim collateral per platform, the same object for `maxAgeMs` (the contract on Collateral in dcap/types.ts; it is valid for 30 days when made). */
export class SimCollateralSource implements CollateralSource {
  private readonly cache = new BoundedCache<string, { made: number; value: Promise<Collateral> }>(1_000);
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly pki: SimPki,
    private readonly maxAgeMs = 3600_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get(fmspc: string, ca: PckCaKind, _now?: Date, tee: TeeType = 'SGX'): Promise<Collateral> {
    const key = `${fmspc}/${ca}/${tee}`;
    const at = this.now();
    const hit = this.cache.get(key);
    if (hit && at.getTime() - hit.made < this.maxAgeMs) {
      this.hits++;
      return hit.value;
    }
    this.misses++;
    const value = makeCollateral(this.pki, { fmspc, ca, at, tee });
    this.cache.set(key, { made: at.getTime(), value });
    value.catch(() => this.cache.delete(key));
    return value;
  }

  stats(): { hits: number; misses: number } {
    return { hits: this.hits, misses: this.misses };
  }
}
