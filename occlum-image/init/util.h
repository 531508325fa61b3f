/* Small helpers shared by the init: the one-line error, hex/base64 codecs, zeroizing buffers. */
#ifndef WARDEN_UTIL_H
#define WARDEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes: one per failure class, so an operator script can tell them apart. */
enum {
  EXIT_CONFIG = 2,      /* configuration file or CA file unusable */
  EXIT_UNREACHABLE = 3, /* server unreachable (DNS, connect, timeout, I/O) */
  EXIT_TLS = 4,         /* TLS certificate does not chain to the pinned CA / wrong host */
  EXIT_REFUSED = 5,     /* the server refused attestation (its reason code is printed) */
  EXIT_QUOTE = 6,       /* /dev/sgx could not produce a quote */
  EXIT_HPKE = 7,        /* a sealed secret did not open (wrong server key or tampered) */
  EXIT_MOUNT = 8,       /* syscall 363 failed */
  EXIT_WRITE = 9,       /* a further secret could not be written after the mount */
  EXIT_PROTOCOL = 10,   /* the server answered something this init does not understand */
  EXIT_INTERNAL = 11,   /* out of memory, RNG or crypto library failure */
  EXIT_SERVER_KEY = 12  /* the server retired (or never had) the HPKE key this image pinned: rebuild the image */
};

/* Records the first failure (class + one line); later calls do not overwrite it, so the root cause is kept. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fail_code(void);
/* Forgets a recorded failure that was recovered from (a retried request). */
void fail_reset(void);
const char *fail_message(void);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Strict hex decode of exactly 2*n chars; returns 0 on success. */
int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t n);

/* Standard base64 with padding. Encode returns a malloc'd NUL-terminated string or NULL. */
char *b64_encode(const uint8_t *in, size_t n);
/* Strict decode (alphabet, padding); returns malloc'd bytes (cap bytes at most) or NULL. */
uint8_t *b64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len);

/* The symbolic name of an errno value ("EIO"), or "errno" for one not listed: messages carry the number
 * and this name, which read the same under glibc and musl (their strerror texts differ). */
const char *errno_name(int e);

/* Frees after wiping: for buffers that held key material or secrets. */
void free_secret(void *p, size_t n);

/* Copies src into dst replacing anything not printable ASCII by '?', bounded: for echoing untrusted text. */
void sanitize(char *dst, size_t cap, const char *src, size_t n);

#endif
