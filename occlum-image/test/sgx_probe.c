/* Drives the init's own /dev/sgx and syscall 363 code (init/quote.c, init/rootfs.c) so a test can check
 * the LD_PRELOAD harness behaves like Occlum where the init touches it.
 * usage: sgx_probe REPORT_DATA_HEX(128) QUOTE_OUT KEY_HEX(32) MOUNTS  -> quote written; MOUNTS calls of 363 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../init/quote.h"
#include "../init/rootfs.h"
#include "../init/util.h"

int main(int argc, char **argv) {
  uint8_t rd[64], key[16];
  if (argc != 5 || hex_decode(argv[1], strlen(argv[1]), rd, 64) != 0 || hex_decode(argv[3], strlen(argv[3]), key, 16) != 0) {
    fprintf(stderr, "usage: sgx_probe REPORT_DATA_HEX QUOTE_OUT KEY_HEX MOUNTS\n");
    return 2;
  }
  size_t len = 0;
  uint8_t *q = quote_generate(rd, &len);
  if (q == NULL) {
    fprintf(stderr, "%s\n", fail_message());
    return fail_code();
  }
  FILE *f = fopen(argv[2], "wb");
  if (f == NULL || fwrite(q, 1, len, f) != len || fclose(f) != 0) return 1;
  for (int i = 0; i < atoi(argv[4]); i++) {
    if (rootfs_mount(key) != 0) {
      fprintf(stderr, "%s\n", fail_message());
      return fail_code();
    }
  }
  return 0;
}
