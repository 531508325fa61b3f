// The one memoisation helper: a map with a size bound that evicts the least recently used entries,
// never everything at once (a full cache that cleared itself made every entry miss together, and let
// a flood of one-off keys evict the entries every request needs). Pure; imports nothing.

export class BoundedCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError('a cache bound is a positive integer');
  }

  get size(): number {
    return this.map.size;
  }

  /** The value, marked as just used; undefined when absent. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-inserted to the end of the insertion order: the front is the least recently used.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) {
      // Evict about 1/8 of the oldest entries at once: amortises the eviction and keeps the rest.
      let drop = Math.max(1, this.map.size - this.limit + (this.limit >> 3));
      for (const k of this.map.keys()) {
        if (drop-- <= 0) break;
        this.map.delete(k);
      }
    }
  }

  /** The cached value, or `make()`'s, stored. */
  getOrSet(key: K, make: () => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    this.set(key, v);
    return v;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

/** A computation run once; its value or its error is replayed on every later call. */
export function once<T>(fn: () => T): () => T {
  let done: { value: T } | { error: unknown } | null = null;
  return () => {
    if (!done) {
      try {
        done = { value: fn() };
      } catch (error) {
        done = { error };
      }
    }
    if ('error' in done) throw done.error;
    return done.value;
  };
}
