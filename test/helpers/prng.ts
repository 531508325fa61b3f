// Seeded randomness for property and fuzz tests, so a failing case can be replayed.

/** The run's seed: WARDEN_PROPERTY_SEED if set (to replay a failure), else a random one the test prints. */
export const propertySeed = (): number => Number(process.env.WARDEN_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: a small seeded PRNG giving numbers in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
