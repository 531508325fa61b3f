/* Checks the init's side of wire format warden/v1 (init/protocol.c, init/hpke.c) against the golden vectors
 * that the TypeScript side checks too (test/vectors/protocol-v1.json, see its README):
 *   the constants (binding label, info prefix, suite ids), reportData, serverKeyId, each secret's info and
 *   its opening (and that a changed ciphertext, aad, info or sender key does not open), and the attest
 *   request body: every member the init sends equals the vector's attestRequest, and no member is missing
 *   or extra.
 * usage: protocol_vectors FILE   Prints one line per check; exits 1 if any failed, 2 if FILE is unusable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../init/config.h"
#include "../init/hpke.h"
#include "../init/json.h"
#include "../init/protocol.h"
#include "../init/util.h"

#define FILE_MAX (1u << 20)
#define HEX_MAX 1024

static int failures;

static void check(int ok, const char *what, const char *detail) {
  printf("%s %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
  if (!ok) failures++;
}

static void die(const char *why) {
  fprintf(stderr, "protocol_vectors: %s\n", why);
  exit(2);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) die("cannot open the vectors file");
  char *buf = malloc(FILE_MAX + 1);
  if (buf == NULL) die("out of memory");
  *len = fread(buf, 1, FILE_MAX + 1, f);
  fclose(f);
  if (*len > FILE_MAX) die("vectors file too large");
  buf[*len] = '\0';
  return buf;
}

/* String member `key` of obj (one of four rotating buffers: copy it to keep it); dies if absent. */
static const char *str(const json_doc *d, int obj, const char *key) {
  static char buf[4][HEX_MAX + 1];
  static int next;
  char *out = buf[next++ % 4];
  if (json_str(d, json_get(d, obj, key), out, HEX_MAX + 1, NULL) != 0) {
    fprintf(stderr, "protocol_vectors: \"%s\" is missing or not a short string\n", key);
    exit(2);
  }
  return out;
}

/* Hex member `key` of obj, exactly n bytes. */
static void hex_member(const json_doc *d, int obj, const char *key, uint8_t *out, size_t n) {
  const char *h = str(d, obj, key);
  if (hex_decode(h, strlen(h), out, n) != 0) {
    fprintf(stderr, "protocol_vectors: \"%s\" is not %zu bytes of hex\n", key, n);
    exit(2);
  }
}

static size_t hex_any(const json_doc *d, int obj, const char *key, uint8_t *out, size_t cap) {
  const char *h = str(d, obj, key);
  size_t n = strlen(h) / 2;
  if (n > cap || hex_decode(h, strlen(h), out, n) != 0) die("bad hex in a variable-length member");
  return n;
}

static int member(const json_doc *d, int obj, const char *key) {
  int t = json_get(d, obj, key);
  if (t < 0) {
    fprintf(stderr, "protocol_vectors: \"%s\" is missing\n", key);
    exit(2);
  }
  return t;
}

/* Opens ct; 0 when it opens to exactly want. */
static int opens(EVP_PKEY *sk, const uint8_t pk[65], const uint8_t pk_s[65], const uint8_t enc[65], const uint8_t *info,
                 size_t info_len, const uint8_t *aad, const uint8_t *ct, size_t ct_len, const uint8_t *want, size_t want_len) {
  hpke_ctx ctx;
  uint8_t pt[HEX_MAX];
  int ok = ct_len >= HPKE_TAG_LEN && ct_len - HPKE_TAG_LEN == want_len &&
           hpke_setup_r(&ctx, HPKE_MODE_AUTH, HPKE_AEAD_AES256GCM, sk, pk, pk_s, enc, 65, info, info_len) == 0 &&
           hpke_open(&ctx, aad, PROTOCOL_NONCE_LEN, ct, ct_len, pt) == 0 && memcmp(pt, want, want_len) == 0;
  hpke_ctx_wipe(&ctx);
  return ok ? 0 : -1;
}

/* Compares the body the init builds with the vector's attestRequest, member by member, both ways. */
static void check_attest_body(const json_doc *v, int want, const config *cfg, const uint8_t nonce[32], const uint8_t pk[65]) {
  char q64[HEX_MAX + 1];
  size_t quote_len = 0, body_len = 0;
  if (json_str(v, member(v, want, "quote"), q64, sizeof q64, NULL) != 0) die("attestRequest.quote is not a string");
  uint8_t *quote = b64_decode(q64, strlen(q64), HEX_MAX, &quote_len);
  if (quote == NULL) die("attestRequest.quote is not base64");
  char *body = protocol_attest_body(cfg, nonce, quote, quote_len, pk, &body_len);
  json_doc *got = malloc(sizeof *got);
  if (body == NULL || got == NULL) die("out of memory");
  check(json_parse(got, body, body_len) == 0 && got->tok[0].type == JSON_OBJECT, "attest body", "is one JSON object");
  check(got->tok[0].size == v->tok[want].size, "attest body", "has as many members as attestRequest");
  for (int m = 0; m < v->tok[want].size; m++) {
    char key[64], what[96];
    if (json_str(v, json_member_key(v, want, m), key, sizeof key, NULL) != 0) die("attestRequest has a bad key");
    int a = json_get(got, 0, key), b = json_get(v, want, key);
    snprintf(what, sizeof what, "attest body member %s", key);
    if (a < 0) {
      check(0, what, "missing");
      continue;
    }
    if (v->tok[b].type == JSON_ARRAY) {
      int same = got->tok[a].type == JSON_ARRAY && got->tok[a].size == v->tok[b].size;
      for (int i = 0; same && i < v->tok[b].size; i++) {
        char x[CONFIG_NAME_MAX + 1], y[CONFIG_NAME_MAX + 1];
        same = json_str(got, json_at(got, a, i), x, sizeof x, NULL) == 0 && json_str(v, json_at(v, b, i), y, sizeof y, NULL) == 0 &&
               strcmp(x, y) == 0;
      }
      check(same, what, "the same names in the same order");
    } else {
      char x[HEX_MAX + 1], y[HEX_MAX + 1];
      check(json_str(got, a, x, sizeof x, NULL) == 0 && json_str(v, b, y, sizeof y, NULL) == 0 && strcmp(x, y) == 0, what, "equal");
    }
  }
  free(got);
  free(body);
  free(quote);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: protocol_vectors test/vectors/protocol-v1.json\n");
    return 2;
  }
  size_t len;
  char *text = slurp(argv[1], &len);
  json_doc *d = malloc(sizeof *d);
  if (d == NULL) die("out of memory");
  if (json_parse(d, text, len) != 0 || d->tok[0].type != JSON_OBJECT) die("the vectors file is not a JSON object");

  check(strcmp(str(d, 0, "bindingLabel"), PROTOCOL_REPORT_DATA_TAG) == 0, "bindingLabel", NULL);
  check(strcmp(str(d, 0, "secretInfoPrefix"), PROTOCOL_INFO_PREFIX) == 0, "secretInfoPrefix", NULL);
  int suite = member(d, 0, "suite");
  unsigned long kem = 0, kdf = 0, aead = 0, mode = 0;
  json_uint(d, json_get(d, suite, "kem"), 0xffff, &kem), json_uint(d, json_get(d, suite, "kdf"), 0xffff, &kdf);
  json_uint(d, json_get(d, suite, "aead"), 0xffff, &aead), json_uint(d, json_get(d, suite, "mode"), 0xff, &mode);
  check(kem == HPKE_KEM_P256_SHA256 && kdf == HPKE_KDF_HKDF_SHA256 && aead == HPKE_AEAD_AES256GCM && mode == HPKE_MODE_AUTH, "suite",
        "kem, kdf, aead and mode are the ones the init opens with");

  uint8_t nonce[PROTOCOL_NONCE_LEN], esk[32], epk[65], spk[65], rd_want[64], rd[64];
  int ek = member(d, 0, "enclaveKey"), sk_obj = member(d, 0, "serverKey");
  hex_member(d, 0, "nonce", nonce, sizeof nonce);
  hex_member(d, ek, "privateKey", esk, sizeof esk), hex_member(d, ek, "publicKey", epk, sizeof epk);
  hex_member(d, sk_obj, "publicKey", spk, sizeof spk);
  hex_member(d, 0, "reportData", rd_want, sizeof rd_want);
  check(protocol_report_data(nonce, epk, rd) == 0 && memcmp(rd, rd_want, 64) == 0, "reportData", NULL);

  char id[PROTOCOL_KEY_ID_LEN + 1];
  check(protocol_server_key_id(spk, id) == 0 && strcmp(id, str(d, sk_obj, "serverKeyId")) == 0, "serverKeyId", NULL);

  EVP_PKEY *sk = hpke_p256_private(esk, epk);
  if (sk == NULL) die("enclaveKey does not import");
  int secrets = member(d, 0, "secrets");
  config *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL) die("out of memory");
  /* An image pinning the vector's server key, its root key secret the first secret, the others further. */
  memcpy(cfg->server_hpke_key, spk, 65);
  for (int i = 0; i < d->tok[secrets].size && i <= CONFIG_MAX_SECRETS; i++) {
    int s = json_at(d, secrets, i);
    char name[CONFIG_NAME_MAX + 1];
    if (json_str(d, json_get(d, s, "name"), name, sizeof name, NULL) != 0 || !config_valid_name(name)) die("a secret name the init cannot configure");
    snprintf(i == 0 ? cfg->rootfs_key_secret : cfg->secrets[cfg->n_secrets++].name, CONFIG_NAME_MAX + 1, "%s", name);
    char what[CONFIG_NAME_MAX + 32];
    uint8_t info_want[PROTOCOL_INFO_MAX], info[PROTOCOL_INFO_MAX], aad[PROTOCOL_NONCE_LEN], enc[65], ct[HEX_MAX], value[HEX_MAX];
    size_t info_want_len = hex_any(d, s, "info", info_want, sizeof info_want), info_len = protocol_secret_info(name, info);
    snprintf(what, sizeof what, "secret %s info", name);
    check(info_len == info_want_len && memcmp(info, info_want, info_len) == 0, what, NULL);
    hex_member(d, s, "aad", aad, sizeof aad);
    snprintf(what, sizeof what, "secret %s aad", name);
    check(memcmp(aad, nonce, sizeof aad) == 0, what, "the nonce");
    hex_member(d, s, "enc", enc, sizeof enc);
    size_t ct_len = hex_any(d, s, "ciphertext", ct, sizeof ct), value_len = hex_any(d, s, "value", value, sizeof value);
    snprintf(what, sizeof what, "secret %s", name);
    check(opens(sk, epk, spk, enc, info, info_len, nonce, ct, ct_len, value, value_len) == 0, what, "opens to value");
    ct[0] ^= 1;
    check(opens(sk, epk, spk, enc, info, info_len, nonce, ct, ct_len, value, value_len) != 0, what, "a changed ciphertext does not open");
    ct[0] ^= 1;
    nonce[31] ^= 1;
    check(opens(sk, epk, spk, enc, info, info_len, nonce, ct, ct_len, value, value_len) != 0, what, "a changed aad does not open");
    nonce[31] ^= 1;
    info[info_len - 1] ^= 1;
    check(opens(sk, epk, spk, enc, info, info_len, nonce, ct, ct_len, value, value_len) != 0, what, "a changed info does not open");
    info[info_len - 1] ^= 1;
    check(opens(sk, epk, epk, enc, info, info_len, nonce, ct, ct_len, value, value_len) != 0, what, "another sender key does not open");
  }
  check_attest_body(d, member(d, 0, "attestRequest"), cfg, nonce, epk);

  EVP_PKEY_free(sk);
  free(cfg);
  free(d);
  free(text);
  printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
