/* HPKE (RFC 9180) receiver side for DHKEM(P-256, HKDF-SHA256) + HKDF-SHA256 + AES-GCM, built from
 * OpenSSL 3 primitives (ECDH derive, HKDF, AES-GCM): Debian's OpenSSL 3.0 has no HPKE API. */
#ifndef WARDEN_HPKE_H
#define WARDEN_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define HPKE_MODE_BASE 0x00
#define HPKE_MODE_AUTH 0x02
#define HPKE_KEM_P256_SHA256 0x0010
#define HPKE_KDF_HKDF_SHA256 0x0001
#define HPKE_AEAD_AES128GCM 0x0001
#define HPKE_AEAD_AES256GCM 0x0002
#define HPKE_P256_NPK 65 /* uncompressed point 04||X||Y */
#define HPKE_NONCE_LEN 12
#define HPKE_TAG_LEN 16

typedef struct {
  uint16_t aead_id;
  uint8_t shared_secret[32];
  uint8_t key[32];
  size_t key_len;
  uint8_t base_nonce[HPKE_NONCE_LEN];
  uint64_t seq;
} hpke_ctx;

/* Imports an uncompressed P-256 public key, refusing points not on the curve. */
EVP_PKEY *hpke_p256_public(const uint8_t pk[HPKE_P256_NPK]);
/* Imports a raw 32-byte P-256 private scalar (with its public point) — used for the RFC test vectors. */
EVP_PKEY *hpke_p256_private(const uint8_t sk[32], const uint8_t pk[HPKE_P256_NPK]);
/* Generates a fresh P-256 key pair and writes its uncompressed public point. */
EVP_PKEY *hpke_p256_generate(uint8_t pk_out[HPKE_P256_NPK]);

/* SetupBaseR / SetupAuthR: sk_r is the recipient key, pk_r its public point, pk_s the sender's
 * public key (auth mode only; NULL for base). Returns 0 or -1. */
int hpke_setup_r(hpke_ctx *ctx, int mode, uint16_t aead_id, EVP_PKEY *sk_r, const uint8_t pk_r[HPKE_P256_NPK],
                 const uint8_t *pk_s, const uint8_t *enc, size_t enc_len, const uint8_t *info, size_t info_len);

/* ContextR.Open at the context's current sequence number; advances it on success. pt gets ct_len-16 bytes. */
int hpke_open(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt);

/* Opens at an explicit sequence number (test vectors skip some). */
int hpke_open_seq(hpke_ctx *ctx, uint64_t seq, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                  uint8_t *pt);

void hpke_ctx_wipe(hpke_ctx *ctx);

#endif
