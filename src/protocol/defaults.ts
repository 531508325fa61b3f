// Defaults that more than one part of Warden relies on, defined once: the server, `warden serve`'s flags,
// the stores and the README all take them from here.

/** How long a challenge nonce stays usable (`warden serve --nonce-ttl`). */
export const NONCE_TTL_SECONDS = 120;
/** How long a result token is valid (`--token-ttl`). */
export const TOKEN_TTL_SECONDS = 300;
/** Per-client-address rate limit on challenge and attest: a burst, then a steady rate (`--rate-burst`, `--rate-per-second`). */
// Generous enough for many enclaves booting behind one address (NAT, one host).
export const RATE_BURST = 120;
export const RATE_PER_SECOND = 20;
/** Largest request body accepted, in bytes. */
export const BODY_LIMIT_BYTES = 128 * 1024;
/** Nonce size in bytes. */
export const NONCE_BYTES = 32;
