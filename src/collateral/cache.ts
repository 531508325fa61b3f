// What the collateral provider needs from its cache: one row per item (kind + key). The rows live in
// Warden's store (src/store/collateral-cache.ts), on SQLite or PostgreSQL, shared by every replica.
import type { CollateralItem, ItemId, ItemKind } from './item.ts';

export interface CollateralCache {
  get(id: ItemId): Promise<CollateralItem | undefined>;
  list(): Promise<CollateralItem[]>;
  /** How many rows of one kind are stored. */
  count(kind: ItemKind): Promise<number>;
  /** Stores an item (validated by the caller). False when a newer one was kept. */
  put(item: CollateralItem): Promise<boolean>;
  /** Stores several items atomically: all or none. For each, whether it was stored (false: a newer one was kept). */
  putAll(items: CollateralItem[]): Promise<boolean[]>;
  delete(id: ItemId): Promise<void>;
  /**
   * Runs `fn` only if no other process or replica is refreshing (undefined otherwise), so one refresh
   * runs at a time across replicas.
   */
  exclusiveRefresh<T>(fn: () => Promise<T>): Promise<T | undefined>;
}
