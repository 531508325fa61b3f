#include "hpke.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#define SHA256_LEN 32
#define LABEL_PREFIX "HPKE-v1"
#define MAX_LABELED 512

EVP_PKEY *hpke_p256_public(const uint8_t pk[HPKE_P256_NPK]) {
  if (pk[0] != 0x04) return NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pk, HPKE_P256_NPK),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 || EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
    EVP_PKEY_CTX_free(pctx);
    return NULL;
  }
  EVP_PKEY_CTX_free(pctx);
  /* Full public-key validation (on curve, not infinity): RFC 9180 section 7.1.4. */
  EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  int ok = check != NULL && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!ok) {
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;
}

EVP_PKEY *hpke_p256_private(const uint8_t sk[32], const uint8_t pk[HPKE_P256_NPK]) {
  EVP_PKEY *key = NULL;
  BIGNUM *d = BN_bin2bn(sk, 32, NULL);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  if (d == NULL || bld == NULL || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pk, HPKE_P256_NPK) ||
      (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
      EVP_PKEY_fromdata_init(pctx) <= 0 || EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) <= 0) {
    key = NULL;
  }
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_clear_free(d);
  return key;
}

EVP_PKEY *hpke_p256_generate(uint8_t pk_out[HPKE_P256_NPK]) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (key == NULL) return NULL;
  size_t n = 0;
  /* The encoded public key of an OpenSSL EC key is the uncompressed point by default. */
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pk_out, HPKE_P256_NPK, &n) != 1 ||
      n != HPKE_P256_NPK || pk_out[0] != 0x04) {
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;
}

/* DH(sk, pk): the 32-byte X coordinate of the shared point. */
static int ecdh(EVP_PKEY *sk, const uint8_t pk[HPKE_P256_NPK], uint8_t out[32]) {
  EVP_PKEY *peer = hpke_p256_public(pk);
  if (peer == NULL) return -1;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
  size_t n = 32;
  int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) == 1 &&
           EVP_PKEY_derive(ctx, out, &n) == 1 && n == 32;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  return ok ? 0 : -1;
}

static int hkdf(int mode, const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  EVP_KDF_free(kdf);
  if (kctx == NULL) return -1;
  OSSL_PARAM params[6];
  int p = 0;
  params[p++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  params[p++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  params[p++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
  if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY)
    params[p++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
  else
    params[p++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
  params[p] = OSSL_PARAM_construct_end();
  int ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
  EVP_KDF_CTX_free(kctx);
  return ok ? 0 : -1;
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm). An empty salt
 * is HashLen zero bytes (RFC 5869 2.2), passed explicitly. */
static int labeled_extract(const uint8_t *suite, size_t suite_len, const uint8_t *salt, size_t salt_len,
                           const char *label, const uint8_t *ikm, size_t ikm_len, uint8_t out[SHA256_LEN]) {
  static const uint8_t zeros[SHA256_LEN];
  uint8_t buf[MAX_LABELED];
  size_t lab = strlen(label), n = 0;
  if (7 + suite_len + lab + ikm_len > sizeof buf) return -1;
  memcpy(buf, LABEL_PREFIX, 7), n += 7;
  memcpy(buf + n, suite, suite_len), n += suite_len;
  memcpy(buf + n, label, lab), n += lab;
  if (ikm_len) memcpy(buf + n, ikm, ikm_len), n += ikm_len;
  if (salt_len == 0) salt = zeros, salt_len = sizeof zeros;
  int r = hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, buf, n, NULL, 0, out, SHA256_LEN);
  OPENSSL_cleanse(buf, sizeof buf);
  return r;
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). */
static int labeled_expand(const uint8_t *suite, size_t suite_len, const uint8_t prk[SHA256_LEN], const char *label,
                          const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
  uint8_t buf[MAX_LABELED];
  size_t lab = strlen(label), n = 0;
  if (2 + 7 + suite_len + lab + info_len > sizeof buf) return -1;
  buf[n++] = (uint8_t)(out_len >> 8);
  buf[n++] = (uint8_t)out_len;
  memcpy(buf + n, LABEL_PREFIX, 7), n += 7;
  memcpy(buf + n, suite, suite_len), n += suite_len;
  memcpy(buf + n, label, lab), n += lab;
  if (info_len) memcpy(buf + n, info, info_len), n += info_len;
  return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, prk, SHA256_LEN, buf, n, out, out_len);
}

int hpke_setup_r(hpke_ctx *ctx, int mode, uint16_t aead_id, EVP_PKEY *sk_r, const uint8_t pk_r[HPKE_P256_NPK],
                 const uint8_t *pk_s, const uint8_t *enc, size_t enc_len, const uint8_t *info, size_t info_len) {
  memset(ctx, 0, sizeof *ctx);
  if (enc_len != HPKE_P256_NPK || (mode == HPKE_MODE_AUTH) != (pk_s != NULL)) return -1;
  if (mode != HPKE_MODE_BASE && mode != HPKE_MODE_AUTH) return -1;
  if (aead_id != HPKE_AEAD_AES128GCM && aead_id != HPKE_AEAD_AES256GCM) return -1;
  ctx->aead_id = aead_id;
  ctx->key_len = aead_id == HPKE_AEAD_AES128GCM ? 16 : 32;

  /* Decap / AuthDecap (RFC 9180 4.1): dh = DH(skR, pkE) [|| DH(skR, pkS)], kem_context = enc || pkR [|| pkS]. */
  uint8_t dh[64], kem_context[3 * HPKE_P256_NPK], eae_prk[SHA256_LEN];
  size_t dh_len = 32, kc_len = 0;
  const uint8_t kem_suite[5] = {'K', 'E', 'M', HPKE_KEM_P256_SHA256 >> 8, HPKE_KEM_P256_SHA256 & 0xff};
  int rc = -1;
  if (ecdh(sk_r, enc, dh) != 0) goto out;
  if (pk_s != NULL) {
    if (ecdh(sk_r, pk_s, dh + 32) != 0) goto out;
    dh_len = 64;
  }
  memcpy(kem_context, enc, HPKE_P256_NPK), kc_len += HPKE_P256_NPK;
  memcpy(kem_context + kc_len, pk_r, HPKE_P256_NPK), kc_len += HPKE_P256_NPK;
  if (pk_s != NULL) memcpy(kem_context + kc_len, pk_s, HPKE_P256_NPK), kc_len += HPKE_P256_NPK;
  if (labeled_extract(kem_suite, sizeof kem_suite, NULL, 0, "eae_prk", dh, dh_len, eae_prk) != 0 ||
      labeled_expand(kem_suite, sizeof kem_suite, eae_prk, "shared_secret", kem_context, kc_len, ctx->shared_secret,
                     32) != 0)
    goto out;

  /* KeySchedule (5.1) with empty psk and psk_id. */
  const uint8_t suite[10] = {'H', 'P', 'K', 'E', HPKE_KEM_P256_SHA256 >> 8, HPKE_KEM_P256_SHA256 & 0xff,
                             HPKE_KDF_HKDF_SHA256 >> 8, HPKE_KDF_HKDF_SHA256 & 0xff, (uint8_t)(aead_id >> 8),
                             (uint8_t)aead_id};
  uint8_t ks_context[1 + 2 * SHA256_LEN], secret[SHA256_LEN];
  ks_context[0] = (uint8_t)mode;
  if (labeled_extract(suite, sizeof suite, NULL, 0, "psk_id_hash", NULL, 0, ks_context + 1) != 0 ||
      labeled_extract(suite, sizeof suite, NULL, 0, "info_hash", info, info_len, ks_context + 1 + SHA256_LEN) != 0 ||
      labeled_extract(suite, sizeof suite, ctx->shared_secret, 32, "secret", NULL, 0, secret) != 0 ||
      labeled_expand(suite, sizeof suite, secret, "key", ks_context, sizeof ks_context, ctx->key, ctx->key_len) != 0 ||
      labeled_expand(suite, sizeof suite, secret, "base_nonce", ks_context, sizeof ks_context, ctx->base_nonce,
                     HPKE_NONCE_LEN) != 0) {
    OPENSSL_cleanse(secret, sizeof secret);
    goto out;
  }
  OPENSSL_cleanse(secret, sizeof secret);
  rc = 0;
out:
  OPENSSL_cleanse(dh, sizeof dh);
  OPENSSL_cleanse(eae_prk, sizeof eae_prk);
  if (rc != 0) hpke_ctx_wipe(ctx);
  return rc;
}

int hpke_open_seq(hpke_ctx *ctx, uint64_t seq, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                  uint8_t *pt) {
  if (ct_len < HPKE_TAG_LEN || ct_len - HPKE_TAG_LEN > (size_t)1 << 30 || aad_len > (size_t)1 << 30) return -1;
  uint8_t nonce[HPKE_NONCE_LEN];
  memcpy(nonce, ctx->base_nonce, HPKE_NONCE_LEN);
  for (int i = 0; i < 8; i++) nonce[HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
  size_t pt_len = ct_len - HPKE_TAG_LEN;
  const EVP_CIPHER *cipher = ctx->aead_id == HPKE_AEAD_AES128GCM ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int outl = 0, ok = c != NULL && EVP_DecryptInit_ex(c, cipher, NULL, NULL, NULL) == 1 &&
                     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, HPKE_NONCE_LEN, NULL) == 1 &&
                     EVP_DecryptInit_ex(c, NULL, NULL, ctx->key, nonce) == 1 &&
                     (aad_len == 0 || EVP_DecryptUpdate(c, NULL, &outl, aad, (int)aad_len) == 1) &&
                     (pt_len == 0 || EVP_DecryptUpdate(c, pt, &outl, ct, (int)pt_len) == 1) &&
                     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, HPKE_TAG_LEN, (void *)(ct + pt_len)) == 1 &&
                     EVP_DecryptFinal_ex(c, pt + outl, &outl) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) {
    OPENSSL_cleanse(pt, pt_len);
    return -1;
  }
  return 0;
}

int hpke_open(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt) {
  if (ctx->seq == UINT64_MAX) return -1;
  if (hpke_open_seq(ctx, ctx->seq, aad, aad_len, ct, ct_len, pt) != 0) return -1;
  ctx->seq++;
  return 0;
}

void hpke_ctx_wipe(hpke_ctx *ctx) { OPENSSL_cleanse(ctx, sizeof *ctx); }
