#include "https.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#include <openssl/crypto.h>
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
      int flags = fcntl(fd, F_GETFL), one = 1;
      struct timeval tv = {(time_t)cfg->timeout_seconds, 0};
      /* No Nagle: a request leaves at once instead of waiting for the server's delayed ACK (40 ms stalls). */
      if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 &&
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
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

/* The request in one SSL_write: one TLS record for these sizes, never a header waiting on its body.
 * Blocking mode without partial writes: SSL_write sends all or fails. */
static int write_request(https_conn *c, const char *req, size_t n) {
  if (n > INT_MAX) return fail(EXIT_INTERNAL, "request too large");
  errno = 0;
  if (SSL_write(c->ssl, req, (int)n) != (int)n) return tls_io_error(c->cfg, "write");
  return 0;
}

static int hex_digit(char ch) {
  return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Walks a chunked body: the length of the complete encoding (through its last CRLF), 0 while incomplete,
 * -1 when malformed. Chunk extensions are skipped; trailers (Warden sends none) are refused. */
static long chunked_length(const char *b, size_t n) {
  size_t r = 0;
  for (;;) {
    const char *crlf = r < n ? memmem(b + r, n - r, "\r\n", 2) : NULL;
    if (crlf == NULL) return n - r > 64 ? -1 : 0;
    size_t line = (size_t)(crlf - (b + r));
    unsigned long sz = 0;
    size_t i = 0;
    for (; i < line && i < 8; i++) {
      char ch = b[r + i];
      int v = hex_digit(ch);
      if (v < 0) break;
      sz = sz * 16 + (unsigned long)v;
    }
    if (i == 0 || (i < line && b[r + i] != ';')) return -1;
    r += line + 2;
    if (sz == 0) {
      if (n - r < 2) return 0;
      return b[r] == '\r' && b[r + 1] == '\n' ? (long)(r + 2) : -1;
    }
    if (sz > HTTPS_MAX_RESPONSE) return -1;
    if (n - r < sz + 2) return 0;
    if (b[r + sz] != '\r' || b[r + sz + 1] != '\n') return -1;
    r += sz + 2;
  }
}

/* Decodes a chunked body of n bytes that chunked_length found complete, in place; returns its length.
 * Bounded by n throughout: the bytes are the server's, and may hold a NUL anywhere. */
static size_t dechunk(char *b, size_t n) {
  size_t r = 0, w = 0;
  for (;;) {
    const char *crlf = memmem(b + r, n - r, "\r\n", 2);
    unsigned long sz = 0;
    for (const char *p = b + r; p < crlf && p < b + r + 8; p++) {
      int v = hex_digit(*p);
      if (v < 0) break;
      sz = sz * 16 + (unsigned long)v;
    }
    r = (size_t)(crlf - b) + 2;
    if (sz == 0) return w;
    memmove(b + w, b + r, sz);
    w += sz;
    r += sz + 2;
  }
}

typedef struct {
  int status;
  size_t header_len;  /* through the blank line */
  long content_length; /* -1: none */
  int chunked;        /* Transfer-Encoding: chunked */
  int close_after;    /* Connection: close, or HTTP/1.0 */
} head_info;

static int parse_head(const config *cfg, char *buf, size_t header_len, head_info *h) {
  if (header_len < 16 || strncmp(buf, "HTTP/1.", 7) != 0) return fail(EXIT_PROTOCOL, "bad server response from %s: not HTTP/1.x", cfg->url);
  h->status = atoi(buf + 9);
  if (h->status < 100 || h->status > 599) return fail(EXIT_PROTOCOL, "bad server response from %s: bad status line", cfg->url);
  h->header_len = header_len;
  h->content_length = -1;
  h->chunked = 0;
  h->close_after = buf[7] == '0';
  /* Header lines, each ending in CRLF, up to the blank line; memmem, not strstr: a NUL may come anywhere. */
  for (size_t at = (size_t)((char *)memmem(buf, header_len, "\r\n", 2) - buf) + 2; at + 2 < header_len;) {
    const char *v = buf + at, *e = memmem(v, header_len - at, "\r\n", 2);
    size_t len = (size_t)(e - v);
    if (len >= 15 && strncasecmp(v, "content-length:", 15) == 0) {
      char *end;
      errno = 0;
      long cl = strtol(v + 15, &end, 10);
      while (end < e && (*end == ' ' || *end == '\t')) end++;
      /* Two different lengths would make the next response's start ambiguous on a kept-alive connection. */
      if (errno || cl < 0 || end == v + 15 || end != e || cl > (long)HTTPS_MAX_RESPONSE || (h->content_length >= 0 && h->content_length != cl))
        return fail(EXIT_PROTOCOL, "bad server response from %s: bad Content-Length", cfg->url);
      h->content_length = cl;
    } else if (len >= 18 && strncasecmp(v, "transfer-encoding:", 18) == 0) {
      for (size_t i = 18; i + 7 <= len; i++)
        if (strncasecmp(v + i, "chunked", 7) == 0) h->chunked = 1;
    } else if (len >= 11 && strncasecmp(v, "connection:", 11) == 0) {
      for (size_t i = 11; i + 5 <= len; i++)
        if (strncasecmp(v + i, "close", 5) == 0) h->close_after = 1;
    }
    at += len + 2;
  }
  if (h->chunked) h->content_length = -1;
  return 0;
}

/* Reads one response, exactly: up to its Content-Length or last chunk, so the connection can carry the
 * next request. *got_any says whether any byte came: a kept-alive connection that the server closed
 * meanwhile gives none. */
static int read_response(https_conn *c, https_response *resp, int *got_any) {
  const config *cfg = c->cfg;
  size_t cap = 16384, n = 0;
  char *buf = malloc(cap + 1);
  head_info h = {0, 0, -1, 0, 0};
  int rc = -1, have_head = 0, eof = 0;
  *got_any = 0;
  if (buf == NULL) return fail(EXIT_INTERNAL, "out of memory");
  for (;;) {
    buf[n] = '\0';
    if (!have_head) {
      char *end = n >= 4 ? memmem(buf, n, "\r\n\r\n", 4) : NULL;
      if (end != NULL) {
        if (parse_head(cfg, buf, (size_t)(end - buf) + 4, &h) != 0) goto out;
        have_head = 1;
      }
    }
    if (have_head) {
      size_t body = n - h.header_len;
      if (h.content_length >= 0 && body >= (size_t)h.content_length) break;
      if (h.chunked) {
        long cl = chunked_length(buf + h.header_len, body);
        if (cl < 0) { fail(EXIT_PROTOCOL, "bad server response from %s: bad chunked body", cfg->url); goto out; }
        if (cl > 0) break;
      }
    }
    if (eof) {
      if (have_head && h.content_length < 0 && !h.chunked) { h.close_after = 1; break; } /* ends with the connection */
      fail(EXIT_UNREACHABLE, "server unreachable: %s: %s", cfg->url, n == 0 ? "connection closed before a response" : "response truncated");
      goto out;
    }
    if (n == cap) {
      if (cap >= HTTPS_MAX_RESPONSE) { fail(EXIT_PROTOCOL, "bad server response from %s: larger than %u bytes", cfg->url, HTTPS_MAX_RESPONSE); goto out; }
      char *nb = realloc(buf, cap * 2 + 1);
      if (nb == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
      buf = nb, cap *= 2;
    }
    errno = 0;
    int r = SSL_read(c->ssl, buf + n, (int)(cap - n));
    if (r > 0) { n += (size_t)r, *got_any = 1; continue; }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE))) {
      ERR_clear_error();
      eof = 1;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) { fail(EXIT_UNREACHABLE, "server unreachable: %s: read timed out", cfg->url); goto out; }
    tls_io_error(cfg, "read");
    goto out;
  }
  {
    char *body = buf + h.header_len;
    size_t body_len = h.chunked ? dechunk(body, n - h.header_len) : h.content_length >= 0 ? (size_t)h.content_length : n - h.header_len;
    resp->body = malloc(body_len + 1);
    if (resp->body == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
    memcpy(resp->body, body, body_len);
    resp->body[body_len] = '\0';
    resp->body_len = body_len;
    resp->status = h.status;
    if (h.close_after) https_close(c);
    rc = 0;
  }
out:
  OPENSSL_cleanse(buf, n); /* it held the sealed secrets' response */
  free(buf);
  return rc;
}

static int tls_connect(https_conn *c) {
  const config *cfg = c->cfg;
  int fd = connect_bounded(cfg);
  if (fd < 0) return -1;
  SSL *ssl = SSL_new(c->ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    close(fd);
    return fail(EXIT_INTERNAL, "TLS: cannot create session");
  }
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
    SSL_free(ssl);
    close(fd);
    return -1;
  }
  c->fd = fd, c->ssl = ssl, c->requests = 0;
  c->connections++;
  return 0;
}

void https_open(https_conn *c, SSL_CTX *ctx, const config *cfg) {
  c->ctx = ctx, c->cfg = cfg, c->fd = -1, c->ssl = NULL, c->requests = 0, c->connections = 0;
}

void https_close(https_conn *c) {
  if (c->ssl) {
    SSL_shutdown(c->ssl); /* close_notify; the peer's is not awaited */
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

int https_post_json(https_conn *c, const char *path, const char *body, size_t body_len, https_response *resp) {
  const config *cfg = c->cfg;
  memset(resp, 0, sizeof *resp);
  char head[1024];
  int hn = snprintf(head, sizeof head,
                    "POST %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                    "Content-Length: %zu\r\nUser-Agent: warden-init/1\r\n\r\n",
                    cfg->prefix, path, strchr(cfg->host, ':') ? "[" : "", cfg->host, strchr(cfg->host, ':') ? "]" : "",
                    cfg->port, body_len);
  if (hn < 0 || (size_t)hn >= sizeof head) return fail(EXIT_CONFIG, "config: url too long");
  char *req = malloc((size_t)hn + body_len);
  if (req == NULL) return fail(EXIT_INTERNAL, "out of memory");
  memcpy(req, head, (size_t)hn);
  memcpy(req + hn, body, body_len);
  int rc = -1;
  for (int attempt = 0; attempt < 2; attempt++) {
    int reused = c->ssl != NULL && c->requests > 0, got_any = 0;
    if (c->ssl == NULL && tls_connect(c) != 0) break;
    if (write_request(c, req, (size_t)hn + body_len) == 0 && read_response(c, resp, &got_any) == 0) {
      c->requests++;
      rc = 0;
      break;
    }
    https_close(c);
    /* A kept-alive connection that the server had closed (its idle timeout) answers nothing at all: the
     * request never reached it, so it goes once more on a new connection. Anything else is final. */
    if (!reused || got_any) break;
    fail_reset();
  }
  free(req);
  return rc;
}

void https_response_free(https_response *resp) {
  free(resp->body);
  resp->body = NULL;
}
