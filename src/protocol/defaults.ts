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

// HTTP limits of `warden serve` (issue #14 finding 4): a client that holds a connection open without
// finishing its request is closed, and one address (or everyone together) can hold only so many.
/** Whole request (headers and body) must arrive within this (`--request-timeout`); then 408 and close. */
export const REQUEST_TIMEOUT_SECONDS = 30;
/** Request headers must arrive within this (`--headers-timeout`); also the TLS handshake's limit. */
export const HEADERS_TIMEOUT_SECONDS = 10;
/** An idle keep-alive connection is closed after this (`--keep-alive-timeout`). */
export const KEEP_ALIVE_TIMEOUT_SECONDS = 5;
/** Open connections in total (`--max-connections`); more are closed at once. */
export const MAX_CONNECTIONS = 1024;
/** Open connections from one client address (`--max-connections-per-address`); more are closed at once. */
export const MAX_CONNECTIONS_PER_ADDRESS = 64;
/** Per-client-address rate limit on the admin API (`--admin-rate-burst`, `--admin-rate-per-second`). */
export const ADMIN_RATE_BURST = 30;
export const ADMIN_RATE_PER_SECOND = 5;

// TLS of `warden serve` (issue #14 finding 8): TLS 1.2 and 1.3 only, and in TLS 1.2 only ECDHE key
// exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305): no CBC, SHA-1 MACs, CCM-8, ARIA or static RSA.
// `--tls-ciphers` and `--tls-min-version` change them (OpenSSL cipher-list syntax; TLS 1.3 suites are
// OpenSSL's defaults, all AEAD).
export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
