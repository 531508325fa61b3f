#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static int g_code;
static char g_msg[512];

int fail(int code, const char *fmt, ...) {
  if (g_code == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    g_code = code;
  }
  return -1;
}

int fail_code(void) { return g_code; }
void fail_reset(void) { g_code = 0, g_msg[0] = '\0'; }
const char *fail_message(void) { return g_msg; }

void hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int hex_decode(const char *in, size_t in_len, uint8_t *out, size_t n) {
  if (in_len != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

char *b64_encode(const uint8_t *in, size_t n) {
  if (n > (size_t)1 << 28) return NULL;
  size_t cap = 4 * ((n + 2) / 3) + 1;
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  EVP_EncodeBlock((unsigned char *)out, in, (int)n);
  return out;
}

static int b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

uint8_t *b64_decode(const char *in, size_t in_len, size_t max_out, size_t *out_len) {
  /* EVP_DecodeBlock skips whitespace and ignores padding; check the exact form first. */
  if (in_len % 4 != 0 || in_len / 4 * 3 > max_out + 2) return NULL;
  size_t pad = 0;
  for (size_t i = 0; i < in_len; i++) {
    if (in[i] == '=') {
      if (i < in_len - 2) return NULL;
      pad++;
    } else if (!b64_char(in[i]) || pad > 0) {
      return NULL;
    }
  }
  size_t n = in_len / 4 * 3 - pad;
  if (n > max_out) return NULL;
  uint8_t *out = malloc(in_len / 4 * 3 + 1);
  if (out == NULL) return NULL;
  if (in_len > 0 && EVP_DecodeBlock(out, (const unsigned char *)in, (int)in_len) < 0) {
    free(out);
    return NULL;
  }
  *out_len = n;
  return out;
}

const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOTTY: return "ENOTTY";
    case ENOSYS: return "ENOSYS";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return "errno";
  }
}

void free_secret(void *p, size_t n) {
  if (p == NULL) return;
  OPENSSL_cleanse(p, n);
  free(p);
}

void sanitize(char *dst, size_t cap, const char *src, size_t n) {
  size_t j = 0;
  for (size_t i = 0; i < n && j + 1 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (cap > 0) dst[j] = '\0';
}
