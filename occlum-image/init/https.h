/* A minimal HTTPS/1.1 client for two JSON POSTs: OpenSSL TLS (>= 1.2), the chain checked against the
 * configured CA file only, and the host name (or IP) of the URL checked against the certificate. */
#ifndef WARDEN_HTTPS_H
#define WARDEN_HTTPS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

#define HTTPS_MAX_RESPONSE (4u << 20)

typedef struct {
  int status;
  char *body; /* NUL-terminated, malloc'd */
  size_t body_len;
} https_response;

/* A TLS context trusting only cfg->ca_file. */
SSL_CTX *https_context(const config *cfg);

/* POST path (appended to the URL's prefix) with a JSON body over a fresh connection. On failure records
 * "server unreachable", "TLS pin mismatch" or a protocol error via fail() and returns -1. */
int https_post_json(SSL_CTX *ctx, const config *cfg, const char *path, const char *body, size_t body_len,
                    https_response *resp);

void https_response_free(https_response *resp);

#endif
