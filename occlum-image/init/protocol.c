#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

static int sha256(const uint8_t *msg, size_t len, uint8_t out[32]) {
  unsigned int n = 0;
  if (EVP_Digest(msg, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32) return fail(EXIT_INTERNAL, "SHA-256 failed");
  return 0;
}

int protocol_server_key_id(const uint8_t pk[HPKE_P256_NPK], char out[PROTOCOL_KEY_ID_LEN + 1]) {
  uint8_t h[32];
  if (sha256(pk, HPKE_P256_NPK, h) != 0) return -1;
  hex_encode(h, sizeof h, out);
  return 0;
}

int protocol_report_data(const uint8_t nonce[PROTOCOL_NONCE_LEN], const uint8_t pk[HPKE_P256_NPK], uint8_t rd[64]) {
  const size_t tag = sizeof PROTOCOL_REPORT_DATA_TAG - 1;
  uint8_t msg[sizeof PROTOCOL_REPORT_DATA_TAG - 1 + PROTOCOL_NONCE_LEN + HPKE_P256_NPK];
  memcpy(msg, PROTOCOL_REPORT_DATA_TAG, tag);
  memcpy(msg + tag, nonce, PROTOCOL_NONCE_LEN);
  memcpy(msg + tag + PROTOCOL_NONCE_LEN, pk, HPKE_P256_NPK);
  memset(rd, 0, 64);
  return sha256(msg, sizeof msg, rd);
}

size_t protocol_secret_info(const char *name, uint8_t out[PROTOCOL_INFO_MAX]) {
  const size_t prefix = sizeof PROTOCOL_INFO_PREFIX - 1;
  size_t n = strnlen(name, CONFIG_NAME_MAX);
  memcpy(out, PROTOCOL_INFO_PREFIX, prefix);
  memcpy(out + prefix, name, n);
  return prefix + n;
}

char *protocol_attest_body(const config *cfg, const uint8_t nonce[PROTOCOL_NONCE_LEN], const uint8_t *quote, size_t quote_len,
                           const uint8_t pk[HPKE_P256_NPK], size_t *len) {
  char id[PROTOCOL_KEY_ID_LEN + 1];
  if (protocol_server_key_id(cfg->server_hpke_key, id) != 0) return NULL;
  char *n64 = b64_encode(nonce, PROTOCOL_NONCE_LEN), *q64 = b64_encode(quote, quote_len), *p64 = b64_encode(pk, HPKE_P256_NPK);
  size_t cap = 256 + PROTOCOL_KEY_ID_LEN + (q64 ? strlen(q64) : 0) + (size_t)(cfg->n_secrets + 1) * (CONFIG_NAME_MAX + 4);
  char *body = malloc(cap);
  if (n64 && q64 && p64 && body) {
    /* Names are [A-Za-z0-9._-] (config.c) and the id is hex, so none needs JSON escaping. */
    size_t o = (size_t)snprintf(body, cap, "{\"nonce\":\"%s\",\"quote\":\"%s\",\"publicKey\":\"%s\",\"serverKeyId\":\"%s\",\"secrets\":[\"%s\"",
                                n64, q64, p64, id, cfg->rootfs_key_secret);
    for (int i = 0; i < cfg->n_secrets; i++) o += (size_t)snprintf(body + o, cap - o, ",\"%s\"", cfg->secrets[i].name);
    o += (size_t)snprintf(body + o, cap - o, "]}");
    *len = o;
  } else {
    free(body), body = NULL;
    fail(EXIT_INTERNAL, "out of memory");
  }
  free(n64), free(q64), free(p64);
  return body;
}
