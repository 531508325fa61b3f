/* Warden's Occlum init: attest to Warden naming the server HPKE key the image pinned (its serverKeyId, so the
 * server seals with that key through a rotation), receive the SEFS root key HPKE-sealed to a fresh key pair,
 * mount the encrypted root file system with syscall 363 (during a key rotation: the newest released version
 * first, an older one only after the wrong-key EIO), write the further secrets, exit 0.
 * Any failure: one line on stderr, a non-zero exit (see util.h), and nothing mounted.
 *
 * usage: init [CONFIG]          (Occlum starts it as plain "init": CONFIG defaults to /etc/warden/init.json)
 *        init --check [CONFIG]  (validate the configuration and CA file only; for build scripts)
 *        init --version         (the protocol, the C library and the OpenSSL linked in) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "hpke.h"
#include "https.h"
#include "json.h"
#include "protocol.h"
#include "quote.h"
#include "rootfs.h"
#include "util.h"

#define NONCE_LEN PROTOCOL_NONCE_LEN
#define SECRET_MAX (1u << 20)
/* The server releases a secret's current version and, while a rotation is in grace, the previous one. */
#define SECRET_MAX_VERSIONS 2
#define SECRET_VERSION_MAX 0xffffffffUL

typedef struct {
  uint8_t *data;
  size_t len;
  unsigned long version;
} opened_secret;

/* Every released version of one secret, newest first. */
typedef struct {
  opened_secret v[SECRET_MAX_VERSIONS];
  int n;
} opened_versions;

static void wipe_versions(opened_versions *s) {
  for (int i = 0; i < s->n; i++) free_secret(s->v[i].data, s->v[i].len + 1), s->v[i].data = NULL;
  s->n = 0;
}

/* The server no longer has (or never had) the HPKE key this image pinned: no retry helps, the image must be
 * rebuilt with a current key. The line says so and names the pinned key's id, which the operator finds in
 * `warden admin keys show` (a public key's hash, no secret). */
static int server_key_refused(const config *cfg, const char *code, int status) {
  char id[PROTOCOL_KEY_ID_LEN + 1];
  if (protocol_server_key_id(cfg->server_hpke_key, id) != 0) return -1;
  if (strcmp(code, "server_key_retired") == 0)
    return fail(EXIT_SERVER_KEY,
                "pinned server key retired: %s (HTTP %d): this image pins HPKE key %s, which the server retired; rebuild the "
                "image with the server's current key (GET /v1/server-keys) and redeploy it",
                code, status, id);
  return fail(EXIT_SERVER_KEY,
              "pinned server key unknown: %s (HTTP %d): this image pins HPKE key %s, which this server never had; check the "
              "image's url, or rebuild the image with the server's current key (GET /v1/server-keys)",
              code, status, id);
}

/* A refusal carries {"error": {"code", "message", "checks"?}}; echo them, sanitized, as the one-line reason. */
static int refused(const config *cfg, const char *what, const https_response *r) {
  json_doc *d = malloc(sizeof *d);
  char code[64] = "", message[256] = "", checks[256] = "", safe_code[64], safe_msg[256], safe_checks[256];
  if (d && json_parse(d, r->body, r->body_len) == 0) {
    int e = json_get(d, 0, "error"), c = json_get(d, e, "checks");
    json_str(d, json_get(d, e, "code"), code, sizeof code, NULL);
    json_str(d, json_get(d, e, "message"), message, sizeof message, NULL);
    /* The failed policy checks say which rule refused (e.g. "payments/debug"). */
    for (int i = 0, t; (t = json_at(d, c, i)) >= 0; i++) {
      char one[96];
      size_t used = strlen(checks);
      if (json_str(d, t, one, sizeof one, NULL) != 0 || used + strlen(one) + 2 >= sizeof checks) break;
      snprintf(checks + used, sizeof checks - used, "%s%s", used ? ", " : "", one);
    }
  }
  free(d);
  sanitize(safe_code, sizeof safe_code, code, strlen(code));
  sanitize(safe_msg, sizeof safe_msg, message, strlen(message));
  sanitize(safe_checks, sizeof safe_checks, checks, strlen(checks));
  if (safe_code[0] == '\0')
    return fail(EXIT_PROTOCOL, "bad server response: %s answered HTTP %d without an error code", what, r->status);
  if (strcmp(safe_code, "server_key_retired") == 0 || strcmp(safe_code, "server_key_unknown") == 0)
    return server_key_refused(cfg, safe_code, r->status);
  return fail(EXIT_REFUSED, "attestation refused: %s (HTTP %d) %s%s%s%s", safe_code, r->status, safe_msg,
              safe_checks[0] ? " [" : "", safe_checks, safe_checks[0] ? "]" : "");
}

static int get_challenge(const config *cfg, https_conn *conn, uint8_t nonce[NONCE_LEN]) {
  https_response r;
  if (https_post_json(conn, "/v1/challenge", "{}", 2, &r) != 0) return -1;
  int rc = -1;
  json_doc *d = malloc(sizeof *d);
  char b64[64];
  size_t n = 0;
  uint8_t *raw = NULL;
  if (r.status != 200) {
    refused(cfg, "/v1/challenge", &r);
  } else if (d == NULL || json_parse(d, r.body, r.body_len) != 0 ||
             json_str(d, json_get(d, 0, "nonce"), b64, sizeof b64, NULL) != 0 ||
             (raw = b64_decode(b64, strlen(b64), NONCE_LEN, &n)) == NULL || n != NONCE_LEN) {
    fail(EXIT_PROTOCOL, "bad server response: /v1/challenge gave no 32-byte nonce");
  } else {
    memcpy(nonce, raw, NONCE_LEN);
    rc = 0;
  }
  free(raw);
  free(d);
  https_response_free(&r);
  return rc;
}

/* Opens one entry {name, version, enc, ciphertext} of the attest response (HPKE Auth mode: sender = the
 * pinned server key). */
static int open_secret(const json_doc *d, int found, const config *cfg, EVP_PKEY *sk, const uint8_t pk[HPKE_P256_NPK],
                       const uint8_t nonce[NONCE_LEN], const char *name, opened_secret *out) {
  int te = json_get(d, found, "enc"), tc = json_get(d, found, "ciphertext");
  if (te < 0 || tc < 0 || d->tok[te].type != JSON_STRING || d->tok[tc].type != JSON_STRING)
    return fail(EXIT_PROTOCOL, "bad server response: secret '%s' lacks enc or ciphertext", name);
  /* Base64 has no escapes, so the raw token range is the string. */
  size_t enc_len = 0, ct_len = 0;
  uint8_t *enc = b64_decode(d->src + d->tok[te].start, d->tok[te].end - d->tok[te].start, HPKE_P256_NPK, &enc_len);
  uint8_t *ct = b64_decode(d->src + d->tok[tc].start, d->tok[tc].end - d->tok[tc].start, SECRET_MAX + HPKE_TAG_LEN, &ct_len);
  int rc = -1;
  if (enc == NULL || ct == NULL || enc_len != HPKE_P256_NPK || ct_len < HPKE_TAG_LEN) {
    fail(EXIT_PROTOCOL, "bad server response: secret '%s' has malformed enc or ciphertext", name);
    goto out;
  }
  uint8_t info[PROTOCOL_INFO_MAX];
  size_t info_len = protocol_secret_info(name, info);
  hpke_ctx ctx;
  out->len = ct_len - HPKE_TAG_LEN;
  out->data = malloc(out->len + 1);
  if (out->data == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
  if (hpke_setup_r(&ctx, HPKE_MODE_AUTH, HPKE_AEAD_AES256GCM, sk, pk, cfg->server_hpke_key, enc, enc_len, info, info_len) != 0 ||
      hpke_open(&ctx, nonce, NONCE_LEN, ct, ct_len, out->data) != 0) {
    hpke_ctx_wipe(&ctx);
    free_secret(out->data, out->len + 1);
    out->data = NULL;
    fail(EXIT_HPKE, "HPKE open failed: secret '%s' (not sealed by the pinned server key, or tampered)", name);
    goto out;
  }
  hpke_ctx_wipe(&ctx);
  rc = 0;
out:
  free(enc);
  free(ct);
  return rc;
}

/* Finds every released version of secret `name` in the attest response and opens them all, newest first.
 * Two entries with one version, a missing or zero version, or more versions than the protocol releases are
 * protocol errors. With keep_all == 0 only the newest is kept (the older ones are opened, so checked, then wiped). */
static int open_versions(const json_doc *d, int arr, const config *cfg, EVP_PKEY *sk, const uint8_t pk[HPKE_P256_NPK],
                         const uint8_t nonce[NONCE_LEN], const char *name, int keep_all, opened_versions *out) {
  int entry[SECRET_MAX_VERSIONS], n = 0;
  unsigned long version[SECRET_MAX_VERSIONS];
  out->n = 0;
  for (int i = 0; i < d->tok[arr].size; i++) {
    char nm[CONFIG_NAME_MAX + 1];
    int e = json_at(d, arr, i);
    if (json_str(d, json_get(d, e, "name"), nm, sizeof nm, NULL) != 0 || strcmp(nm, name) != 0) continue;
    unsigned long v = 0;
    if (json_uint(d, json_get(d, e, "version"), SECRET_VERSION_MAX, &v) != 0 || v == 0)
      return fail(EXIT_PROTOCOL, "bad server response: secret '%s' has no valid version", name);
    for (int j = 0; j < n; j++)
      if (version[j] == v) return fail(EXIT_PROTOCOL, "bad server response: secret '%s' version %lu appears twice", name, v);
    if (n == SECRET_MAX_VERSIONS)
      return fail(EXIT_PROTOCOL, "bad server response: secret '%s' comes in more than %d versions", name, SECRET_MAX_VERSIONS);
    /* Insertion keeps the list newest first, whatever order the server used. */
    int at = n++;
    for (; at > 0 && version[at - 1] < v; at--) entry[at] = entry[at - 1], version[at] = version[at - 1];
    entry[at] = e, version[at] = v;
  }
  if (n == 0) return fail(EXIT_PROTOCOL, "bad server response: secret '%s' missing from the answer", name);
  for (int i = 0; i < n; i++) {
    if (open_secret(d, entry[i], cfg, sk, pk, nonce, name, &out->v[i]) != 0) {
      wipe_versions(out);
      return -1;
    }
    out->v[i].version = version[i];
    out->n = i + 1;
  }
  if (!keep_all)
    while (out->n > 1) out->n--, free_secret(out->v[out->n].data, out->v[out->n].len + 1), out->v[out->n].data = NULL;
  return 0;
}

static int run(const config *cfg, unsigned long *mounted_version) {
  int rc = -1, n_opened = 0;
  uint8_t nonce[NONCE_LEN], pk[HPKE_P256_NPK], rd[64];
  opened_versions rootkey = {.n = 0}, extra[CONFIG_MAX_SECRETS];
  uint8_t *quote = NULL;
  char *body = NULL;
  json_doc *d = NULL;
  https_response r = {0, NULL, 0};
  EVP_PKEY *sk = NULL;
  SSL_CTX *ctx = https_context(cfg);
  https_conn conn;
  https_open(&conn, ctx, cfg);
  if (ctx == NULL || get_challenge(cfg, &conn, nonce) != 0) goto out;
  if ((sk = hpke_p256_generate(pk)) == NULL) { fail(EXIT_INTERNAL, "cannot generate a P-256 key pair"); goto out; }
  size_t quote_len = 0, body_len = 0;
  if (protocol_report_data(nonce, pk, rd) != 0 || (quote = quote_generate(rd, &quote_len)) == NULL) goto out;
  if ((body = protocol_attest_body(cfg, nonce, quote, quote_len, pk, &body_len)) == NULL) goto out;
  if (https_post_json(&conn, "/v1/attest", body, body_len, &r) != 0) goto out;
  https_close(&conn); /* the boot talks to Warden no more */
  if (r.status != 200) { refused(cfg, "/v1/attest", &r); goto out; }
  d = malloc(sizeof *d);
  if (d == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
  int arr;
  if (json_parse(d, r.body, r.body_len) != 0 || (arr = json_get(d, 0, "secrets")) < 0 || d->tok[arr].type != JSON_ARRAY) {
    fail(EXIT_PROTOCOL, "bad server response: /v1/attest answer has no secrets array");
    goto out;
  }
  /* Open everything before mounting: either all secrets are good or nothing is mounted. */
  /* During a rotation the root key may come in two versions: all are opened here, tried at the mount. */
  if (open_versions(d, arr, cfg, sk, pk, nonce, cfg->rootfs_key_secret, 1, &rootkey) != 0) goto out;
  const uint8_t *keys[SECRET_MAX_VERSIONS];
  unsigned long versions[SECRET_MAX_VERSIONS];
  for (int i = 0; i < rootkey.n; i++) {
    if (rootkey.v[i].len != 16) {
      fail(EXIT_PROTOCOL, "bad server response: secret '%s' version %lu is %zu bytes, not a 16-byte SEFS key",
           cfg->rootfs_key_secret, rootkey.v[i].version, rootkey.v[i].len);
      goto out;
    }
    keys[i] = rootkey.v[i].data, versions[i] = rootkey.v[i].version;
  }
  /* Further secrets: only the newest version is written (an app reads one file per secret). */
  for (; n_opened < cfg->n_secrets; n_opened++)
    if (open_versions(d, arr, cfg, sk, pk, nonce, cfg->secrets[n_opened].name, 0, &extra[n_opened]) != 0) goto out;
  EVP_PKEY_free(sk), sk = NULL; /* the ephemeral private key is no longer needed */
  int which = rootfs_mount_any(keys, versions, rootkey.n, cfg->rootfs_key_secret);
  wipe_versions(&rootkey);
  if (which < 0) goto out;
  *mounted_version = versions[which];
  for (int i = 0; i < cfg->n_secrets; i++)
    if (rootfs_write_secret(cfg->secrets[i].path, cfg->secrets[i].mode, extra[i].v[0].data, extra[i].v[0].len) != 0) goto out;
  rc = 0;
out:
  wipe_versions(&rootkey);
  for (int i = 0; i < n_opened; i++) wipe_versions(&extra[i]);
  OPENSSL_cleanse(rd, sizeof rd);
  EVP_PKEY_free(sk);
  free(d);
  if (r.body) free_secret(r.body, r.body_len);
  free(body);
  free(quote);
  https_close(&conn);
  SSL_CTX_free(ctx);
  return rc;
}

#ifdef __GLIBC__
#define LIBC_NAME "glibc"
#else
#define LIBC_NAME "musl"
#endif
#ifndef WARDEN_OPENSSL_SOURCE
#define WARDEN_OPENSSL_SOURCE "unrecorded"
#endif

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("warden-init warden/v1 (%s; %s, from %s)\n", LIBC_NAME, OpenSSL_version(OPENSSL_VERSION), WARDEN_OPENSSL_SOURCE);
    return 0;
  }
  int check = argc > 1 && strcmp(argv[1], "--check") == 0;
  if (argc > 2 + check) {
    fprintf(stderr, "usage: init [--check] [CONFIG] | --version\n");
    return EXIT_CONFIG;
  }
  /* A kept-alive connection that the server closed meanwhile must fail the write with EPIPE (and be
   * replaced), not kill the boot with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  const char *path = argc > 1 + check ? argv[1 + check] : CONFIG_DEFAULT_PATH;
  config *cfg = calloc(1, sizeof *cfg);
  int rc = cfg == NULL ? fail(EXIT_INTERNAL, "out of memory") : config_load(path, cfg);
  if (rc == 0 && check) {
    /* The CA file must hold a certificate OpenSSL can load, as at boot. */
    SSL_CTX *ctx = https_context(cfg);
    rc = ctx == NULL ? -1 : 0;
    SSL_CTX_free(ctx);
  }
  char key_id[PROTOCOL_KEY_ID_LEN + 1];
  if (rc == 0 && check) rc = protocol_server_key_id(cfg->server_hpke_key, key_id);
  if (rc == 0 && check) {
    /* The pinned key's id, to compare with `warden admin keys show` before a key is retired. */
    printf("warden-init: config ok: %s, root key secret '%s', %d further secret(s), pinned server key %s\n", cfg->url,
           cfg->rootfs_key_secret, cfg->n_secrets, key_id);
  } else if (rc == 0) {
    unsigned long version = 0;
    rc = run(cfg, &version);
    if (rc == 0)
      printf("warden-init: root file system mounted with '%s' version %lu, %d further secret(s) written\n",
             cfg->rootfs_key_secret, version, cfg->n_secrets);
  }
  free(cfg);
  if (rc != 0) {
    fprintf(stderr, "warden-init: %s\n", fail_message());
    fflush(stderr);
    return fail_code() ? fail_code() : EXIT_INTERNAL;
  }
  return 0;
}
