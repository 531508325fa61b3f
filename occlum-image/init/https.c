#include "https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "util.h"

SSL_CTX *https_context(const config *cfg) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    fail(EXIT_INTERNAL, "TLS: cannot create context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Trust exactly the configured CA; the system store is not consulted. */
  if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
    fail(EXIT_CONFIG, "config: caFile %s holds no usable PEM certificate", cfg->ca_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  /* Fastify may close without close_notify after a Content-Length body. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}

static int is_ip_literal(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Connects with a bounded wait; returns the socket or -1 after fail(EXIT_UNREACHABLE, ...). */
static int connect_bounded(const config *cfg) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  int gai = getaddrinfo(cfg->host, cfg->port, &hints, &res);
  if (gai != 0) return fail(EXIT_UNREACHABLE, "server unreachable: %s: cannot resolve %s: %s", cfg->url, cfg->host, gai_strerror(gai));
  int last_err = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) { last_err = errno; continue; }
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int pr;
      do pr = poll(&p, 1, (int)cfg->timeout_seconds * 1000); while (pr < 0 && errno == EINTR);
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (pr == 0) { soerr = ETIMEDOUT; }
      else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) { soerr = errno; }
      r = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (r == 0) {
      int flags = fcntl(fd, F_GETFL);
      struct timeval tv = {(time_t)cfg->timeout_seconds, 0};
      if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 &&
          setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
          setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0) {
        freeaddrinfo(res);
        return fd;
      }
    }
    last_err = errno;
    close(fd);
  }
  freeaddrinfo(res);
  return fail(EXIT_UNREACHABLE, "server unreachable: %s: errno %d %s (%s)", cfg->url, last_err, errno_name(last_err), strerror(last_err));
}

static int tls_io_error(const config *cfg, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char buf[160] = "connection closed";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  else if (errno) snprintf(buf, sizeof buf, "errno %d %s (%s)", errno, errno_name(errno), strerror(errno));
  ERR_clear_error();
  return fail(EXIT_UNREACHABLE, "server unreachable: %s: %s: %s", cfg->url, what, buf);
}

static int write_all(SSL *ssl, const config *cfg, const char *p, size_t n) {
  while (n > 0) {
    int chunk = n > 1 << 20 ? 1 << 20 : (int)n;
    int w = SSL_write(ssl, p, chunk);
    if (w <= 0) return tls_io_error(cfg, "write");
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Decodes a chunked body in place; returns the new length or -1. */
static long dechunk(char *b, size_t n) {
  size_t r = 0, w = 0;
  for (;;) {
    char *end;
    if (r >= n) return -1;
    errno = 0;
    unsigned long sz = strtoul(b + r, &end, 16);
    if (end == b + r || errno) return -1;
    char *crlf = memmem(end, n - (size_t)(end - b), "\r\n", 2);
    if (!crlf) return -1;
    r = (size_t)(crlf - b) + 2;
    if (sz == 0) return (long)w;
    if (sz > n - r || n - r - sz < 2) return -1;
    memmove(b + w, b + r, sz);
    w += sz;
    r += sz;
    if (b[r] != '\r' || b[r + 1] != '\n') return -1;
    r += 2;
  }
}

static int parse_response(const config *cfg, char *buf, size_t n, https_response *resp) {
  char *hdr_end = memmem(buf, n, "\r\n\r\n", 4);
  if (hdr_end == NULL || strncmp(buf, "HTTP/1.", 7) != 0 || n < 12)
    return fail(EXIT_PROTOCOL, "bad server response from %s: not HTTP/1.x", cfg->url);
  int status = atoi(buf + 9);
  if (status < 100 || status > 599) return fail(EXIT_PROTOCOL, "bad server response from %s: bad status line", cfg->url);
  *hdr_end = '\0';
  char *body = hdr_end + 4;
  size_t body_len = n - (size_t)(body - buf);
  long content_length = -1;
  int chunked = 0;
  for (char *line = strstr(buf, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
    line += 2;
    if (strncasecmp(line, "content-length:", 15) == 0) content_length = strtol(line + 15, NULL, 10);
    if (strncasecmp(line, "transfer-encoding:", 18) == 0) chunked = strstr(line, "chunked") != NULL;
  }
  if (chunked) {
    long m = dechunk(body, body_len);
    if (m < 0) return fail(EXIT_PROTOCOL, "bad server response from %s: bad chunked body", cfg->url);
    body_len = (size_t)m;
  } else if (content_length >= 0) {
    if ((size_t)content_length > body_len) return fail(EXIT_UNREACHABLE, "server unreachable: %s: response truncated", cfg->url);
    body_len = (size_t)content_length;
  }
  resp->status = status;
  resp->body = malloc(body_len + 1);
  if (resp->body == NULL) return fail(EXIT_INTERNAL, "out of memory");
  memcpy(resp->body, body, body_len);
  resp->body[body_len] = '\0';
  resp->body_len = body_len;
  return 0;
}

int https_post_json(SSL_CTX *ctx, const config *cfg, const char *path, const char *body, size_t body_len,
                    https_response *resp) {
  memset(resp, 0, sizeof *resp);
  int fd = connect_bounded(cfg);
  if (fd < 0) return -1;
  int rc = -1;
  char *buf = NULL;
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) { fail(EXIT_INTERNAL, "TLS: cannot create session"); goto out; }
  if (is_ip_literal(cfg->host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), cfg->host);
  } else {
    SSL_set_tlsext_host_name(ssl, cfg->host);
    SSL_set1_host(ssl, cfg->host);
  }
  errno = 0;
  if (SSL_connect(ssl) != 1) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
      fail(EXIT_TLS, "TLS pin mismatch: %s: server certificate rejected: %s", cfg->url, X509_verify_cert_error_string(v));
      ERR_clear_error();
    } else {
      tls_io_error(cfg, "TLS handshake failed");
    }
    goto out;
  }
  char head[1024];
  int hn = snprintf(head, sizeof head,
                    "POST %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: warden-init/1\r\n\r\n",
                    cfg->prefix, path, strchr(cfg->host, ':') ? "[" : "", cfg->host, strchr(cfg->host, ':') ? "]" : "",
                    cfg->port, body_len);
  if (hn < 0 || (size_t)hn >= sizeof head) { fail(EXIT_CONFIG, "config: url too long"); goto out; }
  if (write_all(ssl, cfg, head, (size_t)hn) || write_all(ssl, cfg, body, body_len)) goto out;
  size_t cap = 16384, n = 0;
  buf = malloc(cap);
  for (;;) {
    if (buf == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
    if (n == cap) {
      if (cap >= HTTPS_MAX_RESPONSE) { fail(EXIT_PROTOCOL, "bad server response from %s: larger than %u bytes", cfg->url, HTTPS_MAX_RESPONSE); goto out; }
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
      buf = nb, cap *= 2;
    }
    errno = 0;
    int r = SSL_read(ssl, buf + n, (int)(cap - n));
    if (r > 0) { n += (size_t)r; continue; }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) break;
    if (errno == EAGAIN || errno == EWOULDBLOCK) { fail(EXIT_UNREACHABLE, "server unreachable: %s: read timed out", cfg->url); goto out; }
    tls_io_error(cfg, "read");
    goto out;
  }
  if (n == cap) {
    char *nb = realloc(buf, cap + 1);
    if (nb == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
    buf = nb;
  }
  buf[n] = '\0';
  rc = parse_response(cfg, buf, n, resp);
out:
  free(buf);
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  close(fd);
  return rc;
}

void https_response_free(https_response *resp) {
  free(resp->body);
  resp->body = NULL;
}
