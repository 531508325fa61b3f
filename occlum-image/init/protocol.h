/* The enclave's side of wire format warden/v1, apart from the transport: what the init computes and sends.
 * test/vectors/protocol-v1.json pins every value here; test/protocol_vectors.c checks this file against it. */
#ifndef WARDEN_PROTOCOL_H
#define WARDEN_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hpke.h"

#define PROTOCOL_NONCE_LEN 32
/* serverKeyId: lowercase hex SHA-256 of the server HPKE key's 65-byte uncompressed public key. */
#define PROTOCOL_KEY_ID_LEN 64
#define PROTOCOL_REPORT_DATA_TAG "warden/v1"
#define PROTOCOL_INFO_PREFIX "warden/v1 secret "
#define PROTOCOL_INFO_MAX (sizeof PROTOCOL_INFO_PREFIX - 1 + CONFIG_NAME_MAX)

/* The serverKeyId of a pinned key (out: 64 hex characters and a NUL). Computed, never configured, so the id
 * an image names can never disagree with the key it opens secrets with. Returns 0 or -1 (fail() recorded). */
int protocol_server_key_id(const uint8_t pk[HPKE_P256_NPK], char out[PROTOCOL_KEY_ID_LEN + 1]);

/* report_data = SHA-256("warden/v1" || nonce || pkE) || 32 zero bytes: binds the quote to this exchange. */
int protocol_report_data(const uint8_t nonce[PROTOCOL_NONCE_LEN], const uint8_t pk[HPKE_P256_NPK], uint8_t rd[64]);

/* HPKE info of a released secret: "warden/v1 secret " || name. out holds PROTOCOL_INFO_MAX bytes; returns its length. */
size_t protocol_secret_info(const char *name, uint8_t out[PROTOCOL_INFO_MAX]);

/* The POST /v1/attest body: nonce, quote and enclave key (base64), the secrets (the root key secret first,
 * then cfg->secrets in order) and the serverKeyId of cfg->server_hpke_key. malloc'd, NUL-terminated. */
char *protocol_attest_body(const config *cfg, const uint8_t nonce[PROTOCOL_NONCE_LEN], const uint8_t *quote, size_t quote_len,
                           const uint8_t pk[HPKE_P256_NPK], size_t *len);

#endif
