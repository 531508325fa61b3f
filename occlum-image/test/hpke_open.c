/* Interop probe: opens one HPKE Auth-mode ciphertext (AES-256-GCM suite, as Warden seals) with the same
 * code the init uses, so a Node test can check that src/secrets/hpke.ts and init/hpke.c agree.
 * usage: hpke_open SKR_HEX PKR_HEX PKS_HEX ENC_B64 CT_B64 INFO_HEX AAD_HEX  -> plaintext hex on stdout */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../init/hpke.h"
#include "../init/util.h"

static uint8_t *hexarg(const char *s, size_t *n) {
  size_t len = strlen(s);
  uint8_t *out = malloc(len / 2 + 1);
  if (out == NULL || len % 2 || hex_decode(s, len, out, len / 2) != 0) {
    fprintf(stderr, "hpke_open: bad hex argument\n");
    exit(2);
  }
  *n = len / 2;
  return out;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: hpke_open SKR_HEX PKR_HEX PKS_HEX ENC_B64 CT_B64 INFO_HEX AAD_HEX\n");
    return 2;
  }
  size_t skn, pkrn, pksn, encn, ctn, infon, aadn;
  uint8_t *sk = hexarg(argv[1], &skn), *pkr = hexarg(argv[2], &pkrn), *pks = hexarg(argv[3], &pksn);
  uint8_t *info = hexarg(argv[6], &infon), *aad = hexarg(argv[7], &aadn);
  uint8_t *enc = b64_decode(argv[4], strlen(argv[4]), 65, &encn);
  uint8_t *ct = b64_decode(argv[5], strlen(argv[5]), 1 << 20, &ctn);
  if (skn != 32 || pkrn != 65 || pksn != 65 || enc == NULL || ct == NULL) {
    fprintf(stderr, "hpke_open: bad key or base64 argument\n");
    return 2;
  }
  EVP_PKEY *key = hpke_p256_private(sk, pkr);
  hpke_ctx ctx;
  uint8_t *pt = malloc(ctn + 1);
  if (key == NULL || pt == NULL ||
      hpke_setup_r(&ctx, HPKE_MODE_AUTH, HPKE_AEAD_AES256GCM, key, pkr, pks, enc, encn, info, infon) != 0 ||
      hpke_open(&ctx, aad, aadn, ct, ctn, pt) != 0) {
    fprintf(stderr, "hpke_open: open failed\n");
    return 1;
  }
  char *hex = malloc(2 * (ctn - 16) + 1);
  if (hex == NULL) return 1;
  hex_encode(pt, ctn - 16, hex);
  printf("%s\n", hex);
  return 0;
}
