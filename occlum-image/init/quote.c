#include "quote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Layouts from Occlum's src/libos/src/fs/dev_fs/dev_sgx (x86-64); the LibOS checks the encoded size. */
typedef struct {
  const uint8_t *report_data; /* sgx_report_data_t*, 64 bytes */
  uint32_t *quote_len;        /* in: buffer size, out: quote size */
  uint8_t *quote_buf;
} sgxioc_gen_dcap_quote_arg;

#define SGXIOC_GET_DCAP_QUOTE_SIZE _IOR('s', 7, uint32_t)
#define SGXIOC_GEN_DCAP_QUOTE _IOWR('s', 8, sgxioc_gen_dcap_quote_arg)

_Static_assert(SGXIOC_GET_DCAP_QUOTE_SIZE == 0x80047307UL, "SGXIOC_GET_DCAP_QUOTE_SIZE");
_Static_assert(SGXIOC_GEN_DCAP_QUOTE == 0xc0187308UL, "SGXIOC_GEN_DCAP_QUOTE");

#define QUOTE_MAX (1u << 20)
#define BUSY_RETRIES 20
#define BUSY_WAIT_MS 100

static int ioctl_retry(int fd, unsigned long req, void *arg) {
  for (int attempt = 0;; attempt++) {
    if (ioctl(fd, req, arg) == 0) return 0;
    if (errno == EINTR) continue;
    /* EBUSY: the quoting enclave is serving someone else; retry, but not forever. */
    if (errno != EBUSY || attempt >= BUSY_RETRIES) return -1;
    struct timespec ts = {0, BUSY_WAIT_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static const char *hint(int e) {
  switch (e) {
    case ENOENT: return " (no /dev/sgx: not running inside Occlum?)";
    case ENOTTY: return " (not Occlum's /dev/sgx)";
    case EIO: return " (DCAP not ready: check the PCCS configuration and /dev/sgx/{enclave,provision})";
    case EBUSY: return " (still busy after retries)";
    default: return "";
  }
}

/* ECDSA quote v3/v4: header 48 + body (384 SGX / 584 TDX) + u32 signature length + signature. */
static size_t declared_length(const uint8_t *q, size_t n) {
  if (n < 48) return 0;
  uint16_t version = (uint16_t)(q[0] | q[1] << 8);
  uint32_t tee = (uint32_t)q[4] | (uint32_t)q[5] << 8 | (uint32_t)q[6] << 16 | (uint32_t)q[7] << 24;
  size_t body = tee == 0x81 ? 584 : 384;
  if ((version != 3 && version != 4) || n < 48 + body + 4) return 0;
  const uint8_t *s = q + 48 + body;
  size_t sig = (size_t)s[0] | (size_t)s[1] << 8 | (size_t)s[2] << 16 | (size_t)s[3] << 24;
  size_t total = 48 + body + 4 + sig;
  return sig <= n && total <= n ? total : 0;
}

uint8_t *quote_generate(const uint8_t report_data[64], size_t *quote_len) {
  int fd = open("/dev/sgx", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    fail(EXIT_QUOTE, "quote failed: cannot open /dev/sgx: %s%s", strerror(e), hint(e));
    return NULL;
  }
  uint32_t size = 0;
  uint8_t *buf = NULL;
  if (ioctl_retry(fd, SGXIOC_GET_DCAP_QUOTE_SIZE, &size) != 0) {
    int e = errno;
    fail(EXIT_QUOTE, "quote failed: SGXIOC_GET_DCAP_QUOTE_SIZE: %s%s", strerror(e), hint(e));
    goto out;
  }
  if (size < 48 + 384 + 4 || size > QUOTE_MAX) {
    fail(EXIT_QUOTE, "quote failed: implausible quote size %u", size);
    goto out;
  }
  buf = calloc(1, size);
  if (buf == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
  uint32_t len = size;
  sgxioc_gen_dcap_quote_arg arg = {report_data, &len, buf};
  if (ioctl_retry(fd, SGXIOC_GEN_DCAP_QUOTE, &arg) != 0) {
    int e = errno;
    fail(EXIT_QUOTE, "quote failed: SGXIOC_GEN_DCAP_QUOTE: %s%s", strerror(e), hint(e));
    free(buf), buf = NULL;
    goto out;
  }
  if (len == 0 || len > size) len = size;
  size_t declared = declared_length(buf, len);
  if (declared == 0) {
    fail(EXIT_QUOTE, "quote failed: /dev/sgx returned something that is not an ECDSA quote");
    free(buf), buf = NULL;
    goto out;
  }
  /* Real quote buffers come padded; send only the quote itself. */
  *quote_len = declared;
out:
  close(fd);
  return buf;
}
