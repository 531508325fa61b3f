/* Drives /dev/sgx and syscall 363 so a test can check that the LD_PRELOAD harness answers as Occlum does,
 * through the init's own quote code and through raw calls:
 *   sgx_probe quote REPORT_DATA_HEX(128) QUOTE_OUT  init/quote.c's quote_generate; the quote goes to QUOTE_OUT,
 *                                                   a failure's line to stderr and its class to the exit code
 *   sgx_probe mount KEY_HEX(32)|null ...            syscall(363, key, NULL) once per key, in order, going on
 *                                                   after failures; prints the errnos as a JSON array
 *   sgx_probe gen BUFLEN                            SGXIOC_GET_DCAP_QUOTE_SIZE, then SGXIOC_GEN_DCAP_QUOTE with
 *                                                   a BUFLEN-byte buffer; prints {"size":N,"errno":E}
 *   sgx_probe ioctl REQUEST_HEX                     that request on /dev/sgx with a zeroed 64-byte argument;
 *                                                   prints its errno */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../init/quote.h"
#include "../init/rootfs.h"
#include "../init/util.h"

typedef struct {
  const uint8_t *report_data;
  uint32_t *quote_len;
  uint8_t *quote_buf;
} gen_arg;

static int usage(void) {
  fprintf(stderr, "usage: sgx_probe quote RD_HEX OUT | mount KEY_HEX|null ... | gen BUFLEN | ioctl REQUEST_HEX\n");
  return 2;
}

static int quote(const char *rd_hex, const char *out) {
  uint8_t rd[64];
  if (hex_decode(rd_hex, strlen(rd_hex), rd, 64) != 0) return usage();
  size_t len = 0;
  uint8_t *q = quote_generate(rd, &len);
  if (q == NULL) {
    fprintf(stderr, "%s\n", fail_message());
    return fail_code();
  }
  FILE *f = fopen(out, "wb");
  int ok = f != NULL && fwrite(q, 1, len, f) == len;
  if (f != NULL && fclose(f) != 0) ok = 0;
  free(q);
  return ok ? 0 : 1;
}

static int mount(int n, char **keys) {
  printf("[");
  for (int i = 0; i < n; i++) {
    uint8_t key[16];
    int null_key = strcmp(keys[i], "null") == 0;
    if (!null_key && hex_decode(keys[i], strlen(keys[i]), key, 16) != 0) return usage();
    printf("%s%d", i ? "," : "", rootfs_try_mount(null_key ? NULL : key));
  }
  printf("]\n");
  return 0;
}

static int gen(unsigned long buflen) {
  int fd = open("/dev/sgx", O_RDONLY);
  if (fd < 0) return 1;
  uint32_t size = 0;
  int e = ioctl(fd, 0x80047307UL, &size) == 0 ? 0 : errno;
  if (e == 0) {
    uint8_t rd[64] = {0}, *buf = calloc(1, buflen ? buflen : 1);
    uint32_t len = (uint32_t)buflen;
    gen_arg arg = {rd, &len, buf};
    e = ioctl(fd, 0xc0187308UL, &arg) == 0 ? 0 : errno;
    free(buf);
  }
  printf("{\"size\":%u,\"errno\":%d}\n", size, e);
  close(fd);
  return 0;
}

static int raw_ioctl(unsigned long req) {
  int fd = open("/dev/sgx", O_RDONLY);
  if (fd < 0) return 1;
  uint8_t arg[64] = {0};
  printf("%d\n", ioctl(fd, req, arg) == 0 ? 0 : errno);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "quote") == 0) return quote(argv[2], argv[3]);
  if (argc >= 3 && strcmp(argv[1], "mount") == 0) return mount(argc - 2, argv + 2);
  if (argc == 3 && strcmp(argv[1], "gen") == 0) return gen(strtoul(argv[2], NULL, 10));
  if (argc == 3 && strcmp(argv[1], "ioctl") == 0) return raw_ioctl(strtoul(argv[2], NULL, 16));
  return usage();
}
