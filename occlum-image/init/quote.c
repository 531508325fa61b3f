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
/* EINVAL is all Occlum ever answers on /dev/sgx (see quote.h); a busy or not yet ready quoting enclave is
 * worth waiting for, but not for long: 50, 100, 200, 400 and 800 ms, 1.55 s in all, then one line. */
#define RETRY_FIRST_MS 50
#define RETRY_BUDGET_MS 2000

typedef struct {
  int attempts; /* of the current ioctl */
  long waited_ms; /* by both */
  long next_ms;
} retry_state;

/* One /dev/sgx ioctl, retried on EINVAL within the budget shared by both ioctls of a quote. */
static int ioctl_retry(int fd, unsigned long req, void *arg, retry_state *st) {
  st->attempts = 0;
  for (;;) {
    st->attempts++;
    if (ioctl(fd, req, arg) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EINVAL || st->waited_ms + st->next_ms > RETRY_BUDGET_MS) return -1;
    struct timespec ts = {st->next_ms / 1000, (st->next_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    st->waited_ms += st->next_ms;
    st->next_ms *= 2;
  }
}

static int ioctl_failed(const char *what, int e, const retry_state *st) {
  if (e == EINVAL)
    return fail(EXIT_QUOTE,
                "quote failed: %s: errno %d %s after %d tries over %.2f s: the quoting enclave is busy or DCAP is not "
                "ready: check the host's AESM service (aesmd), that the PCCS is reachable from the host "
                "(/etc/sgx_default_qcnl.conf), and that /dev/sgx/enclave and /dev/sgx/provision are in the container",
                what, e, errno_name(e), st->attempts, (double)st->waited_ms / 1000.0);
  const char *hint = e == ENOTTY || e == ENOENT ? " (not Occlum's /dev/sgx: not running inside Occlum?)" : "";
  return fail(EXIT_QUOTE, "quote failed: %s: errno %d %s (%s)%s", what, e, errno_name(e), strerror(e), hint);
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
    fail(EXIT_QUOTE, "quote failed: cannot open /dev/sgx: errno %d %s (%s)%s", e, errno_name(e), strerror(e),
         e == ENOENT ? " (no /dev/sgx: not running inside Occlum?)" : "");
    return NULL;
  }
  retry_state st = {0, 0, RETRY_FIRST_MS};
  uint32_t size = 0;
  uint8_t *buf = NULL;
  if (ioctl_retry(fd, SGXIOC_GET_DCAP_QUOTE_SIZE, &size, &st) != 0) {
    ioctl_failed("SGXIOC_GET_DCAP_QUOTE_SIZE", errno, &st);
    goto out;
  }
  if (size < 48 + 384 + 4 || size > QUOTE_MAX) {
    fail(EXIT_QUOTE, "quote failed: implausible quote size %u", size);
    goto out;
  }
  buf = calloc(1, size);
  if (buf == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
  /* Occlum fills the buffer up to the quote size and leaves len alone; the header says the real length. */
  uint32_t len = size;
  sgxioc_gen_dcap_quote_arg arg = {report_data, &len, buf};
  if (ioctl_retry(fd, SGXIOC_GEN_DCAP_QUOTE, &arg, &st) != 0) {
    ioctl_failed("SGXIOC_GEN_DCAP_QUOTE", errno, &st);
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
