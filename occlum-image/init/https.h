/* A minimal HTTPS/1.1 client for two JSON POSTs on one kept-alive connection: OpenSSL TLS (>= 1.2), the chain checked against the
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

/* One HTTP/1.1 keep-alive connection to the configured server, opened by the first request: a boot's
 * challenge and attest share one TCP connection and one TLS handshake. TCP_NODELAY is set. */
typedef struct {
  SSL_CTX *ctx;
  const config *cfg;
  int fd;
  SSL *ssl;
  int requests;    /* answered on the current connection */
  int connections; /* opened in all (for the tests' accounting) */
} https_conn;

void https_open(https_conn *c, SSL_CTX *ctx, const config *cfg);
/* POST path (appended to the URL's prefix) with a JSON body, the whole request in one write. A kept-alive
 * connection that the server closed meanwhile is replaced once. On failure records "server unreachable",
 * "TLS pin mismatch" or a protocol error via fail() and returns -1. */
int https_post_json(https_conn *c, const char *path, const char *body, size_t body_len, https_response *resp);
/* Sends close_notify and closes the connection (a no-op when none is open). */
void https_close(https_conn *c);

void https_response_free(https_response *resp);

#endif
