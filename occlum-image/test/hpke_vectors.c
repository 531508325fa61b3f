/* Checks init/hpke.c against RFC 9180 Appendix A.3 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM),
 * base and auth modes, and that a wrong sender key, a wrong aad or a flipped bit make Open fail.
 * Prints one line per check and exits non-zero on the first mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../init/hpke.h"
#include "../init/util.h"

typedef struct {
  unsigned seq;
  const char *aad, *ct;
} encryption;

typedef struct {
  const char *name;
  int mode;
  const char *skRm, *pkRm, *pkSm, *enc, *shared_secret, *key, *base_nonce;
  encryption enc_list[4];
} vector;

static const char *INFO = "4f6465206f6e2061204772656369616e2055726e";
static const char *PT = "4265617574792069732074727574682c20747275746820626561757479";

static const vector VECTORS[] = {
    {"A.3.1 base", HPKE_MODE_BASE,
     "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
     "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f70"
     "6a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
     NULL,
     "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b32"
     "5ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
     "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8", "868c066ef58aae6dc589b6cfdd18f97e",
     "4e0bc5018beba4bf004cca59",
     {{0, "436f756e742d30",
       "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434"},
      {1, "436f756e742d31",
       "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82"},
      {255, "436f756e742d323535",
       "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd"},
      {256, "436f756e742d323536",
       "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2"}}},
    {"A.3.3 auth", HPKE_MODE_AUTH,
     "d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e",
     "04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b0"
     "1836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d",
     "04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c1"
     "0eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73",
     "042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52"
     "e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454",
     "d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f", "19aa8472b3fdc530392b0e54ca17c0f5",
     "b390052d26b67a5b8a8fcaa4",
     {{0, "436f756e742d30",
       "82ffc8c44760db691a07c5627e5fc2c08e7a86979ee79b494a17cc3405446ac2bdb8f265db4a099ed3289ffe19"},
      {1, "436f756e742d31",
       "b0a705a54532c7b4f5907de51c13dffe1e08d55ee9ba59686114b05945494d96725b239468f1229e3966aa1250"},
      {255, "436f756e742d323535",
       "4a319462eaedee37248b4d985f64f4f863d31913fe9e30b6e13136053b69fe5d70853c84c60a84bb5495d5a678"},
      {256, "436f756e742d323536",
       "28e874512f8940fafc7d06135e7589f6b4198bc0f3a1c64702e72c9e6abaf9f05cb0d2f11b03a517898815c934"}}},
};

static int failures;

static void check(int ok, const char *vec, const char *what) {
  printf("%s %s: %s\n", ok ? "ok" : "FAIL", vec, what);
  if (!ok) failures++;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap) {
  size_t n = strlen(h) / 2;
  if (n > cap || hex_decode(h, strlen(h), out, n) != 0) {
    fprintf(stderr, "bad hex in vector table\n");
    exit(2);
  }
  return n;
}

int main(void) {
  uint8_t info[64], pt_want[64];
  size_t info_len = unhex(INFO, info, sizeof info), pt_len = unhex(PT, pt_want, sizeof pt_want);
  for (size_t v = 0; v < sizeof VECTORS / sizeof VECTORS[0]; v++) {
    const vector *t = &VECTORS[v];
    uint8_t skR[32], pkR[65], pkS[65], enc[65], ss[32], key[16], nonce[12];
    unhex(t->skRm, skR, 32), unhex(t->pkRm, pkR, 65), unhex(t->enc, enc, 65);
    unhex(t->shared_secret, ss, 32), unhex(t->key, key, 16), unhex(t->base_nonce, nonce, 12);
    if (t->pkSm) unhex(t->pkSm, pkS, 65);
    EVP_PKEY *sk = hpke_p256_private(skR, pkR);
    check(sk != NULL, t->name, "import recipient key");
    if (!sk) continue;
    hpke_ctx ctx;
    int r = hpke_setup_r(&ctx, t->mode, HPKE_AEAD_AES128GCM, sk, pkR, t->pkSm ? pkS : NULL, enc, 65, info, info_len);
    check(r == 0, t->name, "setup");
    check(r == 0 && memcmp(ctx.shared_secret, ss, 32) == 0, t->name, "shared_secret");
    check(r == 0 && ctx.key_len == 16 && memcmp(ctx.key, key, 16) == 0, t->name, "key");
    check(r == 0 && memcmp(ctx.base_nonce, nonce, 12) == 0, t->name, "base_nonce");
    for (int e = 0; e < 4 && r == 0; e++) {
      uint8_t aad[16], ct[128], pt[128];
      size_t aad_len = unhex(t->enc_list[e].aad, aad, sizeof aad), ct_len = unhex(t->enc_list[e].ct, ct, sizeof ct);
      char what[64];
      snprintf(what, sizeof what, "open seq %u", t->enc_list[e].seq);
      int o = hpke_open_seq(&ctx, t->enc_list[e].seq, aad, aad_len, ct, ct_len, pt);
      check(o == 0 && ct_len - 16 == pt_len && memcmp(pt, pt_want, pt_len) == 0, t->name, what);
      if (e == 0) {
        /* Sequential Open must start at 0 and advance. */
        uint8_t pt2[128];
        check(hpke_open(&ctx, aad, aad_len, ct, ct_len, pt2) == 0 && ctx.seq == 1, t->name, "open advances seq");
        check(hpke_open(&ctx, aad, aad_len, ct, ct_len, pt2) != 0, t->name, "replayed ciphertext refused at seq 1");
        aad[0] ^= 1;
        check(hpke_open_seq(&ctx, 0, aad, aad_len, ct, ct_len, pt2) != 0, t->name, "wrong aad refused");
        aad[0] ^= 1;
        ct[3] ^= 0x80;
        check(hpke_open_seq(&ctx, 0, aad, aad_len, ct, ct_len, pt2) != 0, t->name, "flipped ciphertext bit refused");
        ct[3] ^= 0x80;
        check(hpke_open_seq(&ctx, 0, aad, aad_len, ct, 15, pt2) != 0, t->name, "short ciphertext refused");
      }
    }
    hpke_ctx_wipe(&ctx);
    if (t->mode == HPKE_MODE_AUTH) {
      /* Auth mode binds the sender: with another sender key (here the recipient's own) nothing opens. */
      uint8_t ct[128], pt[128], aad[16];
      size_t aad_len = unhex(t->enc_list[0].aad, aad, sizeof aad), ct_len = unhex(t->enc_list[0].ct, ct, sizeof ct);
      int s = hpke_setup_r(&ctx, t->mode, HPKE_AEAD_AES128GCM, sk, pkR, pkR, enc, 65, info, info_len);
      check(s == 0 && hpke_open_seq(&ctx, 0, aad, aad_len, ct, ct_len, pt) != 0, t->name, "wrong sender key refused");
      hpke_ctx_wipe(&ctx);
      uint8_t bad[65];
      memcpy(bad, pkS, 65);
      bad[64] ^= 1; /* no longer on the curve */
      check(hpke_setup_r(&ctx, t->mode, HPKE_AEAD_AES128GCM, sk, pkR, bad, enc, 65, info, info_len) != 0, t->name,
            "sender point off the curve refused");
      /* Base mode setup of an auth ciphertext does not open either. */
      s = hpke_setup_r(&ctx, HPKE_MODE_BASE, HPKE_AEAD_AES128GCM, sk, pkR, NULL, enc, 65, info, info_len);
      check(s == 0 && hpke_open_seq(&ctx, 0, aad, aad_len, ct, ct_len, pt) != 0, t->name, "mode mismatch refused");
      hpke_ctx_wipe(&ctx);
    }
    EVP_PKEY_free(sk);
  }
  printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
