/* LD_PRELOAD stand-in for the two places where Warden's init touches Occlum, so tests run the real init
 * binary on plain Linux:
 *   - open("/dev/sgx") and the ioctls SGXIOC_GET_DCAP_QUOTE_SIZE / SGXIOC_GEN_DCAP_QUOTE: the quote comes
 *     from the command in WARDEN_HARNESS_QUOTE_CMD, run through /bin/sh with the 64-byte report data as
 *     128 hex characters appended as its last argument; its stdout is the binary quote.
 *     Or, with WARDEN_HARNESS_QUOTE_SOCKET set, from a Unix stream socket: the harness sends the 64 report
 *     data bytes and reads a u32 little-endian length and the quote (no process start per quote, so a
 *     benchmark measures the init rather than Node's start-up).
 *     WARDEN_HARNESS_QUOTE_BUSY=N makes the first N GEN ioctls fail with EBUSY (retry path).
 *   - syscall(363, key, cfg): appends {"key":HEX,"rootfsConfig":null|"set","unixNanos":N,"errno":E} (E = 0
 *     when it mounted) to the file in WARDEN_HARNESS_MOUNT_LOG; fails with the errno named in
 *     WARDEN_HARNESS_MOUNT_FAIL (EACCES, EPERM or any other value = EIO); with WARDEN_HARNESS_MOUNT_KEY=HEX
 *     (32 hex digits: the key the image was built with) fails with EACCES for any other key, as Occlum's
 *     MAC check does, without counting as a mount; and, like Occlum, fails with EPERM after a mount.
 * The init calls glibc's syscall() function (not an inline `syscall` instruction); the dynamic linker binds
 * that call to this library's `syscall` first, so no change to the init is needed. Everything else is
 * passed to the next definition (RTLD_NEXT). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SGXIOC_GET_DCAP_QUOTE_SIZE 0x80047307UL
#define SGXIOC_GEN_DCAP_QUOTE 0xc0187308UL
#define HARNESS_QUOTE_SIZE 16384u /* what the fake QE reports; the init trims to the declared length */

typedef struct {
  const uint8_t *report_data;
  uint32_t *quote_len;
  uint8_t *quote_buf;
} gen_arg;

static int sgx_fd = -1;
static int mounted;
static int busy_left = -1;

static void *next(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (f == NULL) {
    fprintf(stderr, "harness: no next %s\n", name);
    abort();
  }
  return f;
}

static int is_sgx(const char *path) { return path != NULL && strcmp(path, "/dev/sgx") == 0; }

static int open_sgx(void) {
  int (*real_open)(const char *, int, ...) = next("open");
  int fd = real_open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) sgx_fd = fd;
  return fd;
}

#define OPEN_WRAPPER(NAME)                                                 \
  int NAME(const char *path, int flags, ...) {                            \
    mode_t mode = 0;                                                      \
    if (flags & (O_CREAT | O_TMPFILE)) {                                  \
      va_list ap;                                                         \
      va_start(ap, flags);                                                \
      mode = va_arg(ap, mode_t);                                          \
      va_end(ap);                                                         \
    }                                                                     \
    if (is_sgx(path)) return open_sgx();                                  \
    int (*real)(const char *, int, ...) = next(#NAME);                    \
    return real(path, flags, mode);                                       \
  }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(NAME)                                               \
  int NAME(int dirfd, const char *path, int flags, ...) {                 \
    mode_t mode = 0;                                                      \
    if (flags & (O_CREAT | O_TMPFILE)) {                                  \
      va_list ap;                                                         \
      va_start(ap, flags);                                                \
      mode = va_arg(ap, mode_t);                                          \
      va_end(ap);                                                         \
    }                                                                     \
    if (is_sgx(path)) return open_sgx();                                  \
    int (*real)(int, const char *, int, ...) = next(#NAME);               \
    return real(dirfd, path, flags, mode);                                \
  }

OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* _FORTIFY_SOURCE turns open() with non-constant flags into these. */
int __open_2(const char *path, int flags) {
  if (is_sgx(path)) return open_sgx();
  int (*real)(const char *, int) = next("__open_2");
  return real(path, flags);
}

int __open64_2(const char *path, int flags) {
  if (is_sgx(path)) return open_sgx();
  int (*real)(const char *, int) = next("__open64_2");
  return real(path, flags);
}

int close(int fd) {
  if (fd >= 0 && fd == sgx_fd) sgx_fd = -1;
  int (*real)(int) = next("close");
  return real(fd);
}

static int run_quote_cmd(const uint8_t rd[64], uint8_t *out, uint32_t *len) {
  const char *cmd = getenv("WARDEN_HARNESS_QUOTE_CMD");
  if (cmd == NULL || *cmd == '\0') return EIO;
  char hex[129];
  for (int i = 0; i < 64; i++) snprintf(hex + 2 * i, 3, "%02x", rd[i]);
  size_t n = strlen(cmd) + 130;
  char *line = malloc(n);
  if (line == NULL) return ENOMEM;
  snprintf(line, n, "%s %s", cmd, hex);
  unsetenv("LD_PRELOAD"); /* the quote command is an ordinary program, not an enclave */
  FILE *p = popen(line, "r");
  free(line);
  if (p == NULL) return EIO;
  size_t got = 0, cap = *len;
  int overflow = 0;
  for (;;) {
    uint8_t buf[4096];
    size_t r = fread(buf, 1, sizeof buf, p);
    if (r == 0) break;
    if (got + r > cap) overflow = 1;
    else memcpy(out + got, buf, r);
    got += r;
  }
  int status = pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "harness: quote command failed (status %d)\n", status);
    return EIO;
  }
  if (overflow) return EINVAL; /* like Occlum: the caller's buffer is too small */
  *len = (uint32_t)got;
  return 0;
}

static int read_full(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int socket_quote(const char *path, const uint8_t rd[64], uint8_t *out, uint32_t *len) {
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return EIO;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return EIO;
  uint8_t hdr[4];
  int e = EIO;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && write(fd, rd, 64) == 64 && read_full(fd, hdr, 4) == 0) {
    uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (n > *len) e = EINVAL; /* like Occlum: the caller's buffer is too small */
    else if (read_full(fd, out, n) == 0) *len = n, e = 0;
  }
  close(fd);
  return e;
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (fd < 0 || fd != sgx_fd) {
    int (*real)(int, unsigned long, ...) = next("ioctl");
    return real(fd, req, arg);
  }
  if (req == SGXIOC_GET_DCAP_QUOTE_SIZE) {
    *(uint32_t *)arg = HARNESS_QUOTE_SIZE;
    return 0;
  }
  if (req == SGXIOC_GEN_DCAP_QUOTE) {
    if (busy_left < 0) {
      const char *b = getenv("WARDEN_HARNESS_QUOTE_BUSY");
      busy_left = b ? atoi(b) : 0;
    }
    if (busy_left > 0) {
      busy_left--;
      errno = EBUSY;
      return -1;
    }
    gen_arg *g = arg;
    if (g == NULL || g->report_data == NULL || g->quote_len == NULL || g->quote_buf == NULL) {
      errno = EFAULT;
      return -1;
    }
    const char *sock = getenv("WARDEN_HARNESS_QUOTE_SOCKET");
    int e = sock && *sock ? socket_quote(sock, g->report_data, g->quote_buf, g->quote_len)
                          : run_quote_cmd(g->report_data, g->quote_buf, g->quote_len);
    if (e != 0) {
      errno = e;
      return -1;
    }
    return 0;
  }
  errno = ENOTTY;
  return -1;
}

static int record_mount(const uint8_t *key, const void *config, int result) {
  const char *log = getenv("WARDEN_HARNESS_MOUNT_LOG");
  if (log == NULL) return 0;
  FILE *f = fopen(log, "a");
  if (f == NULL) return -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fprintf(f, "{\"key\":");
  if (key == NULL) {
    fprintf(f, "null");
  } else {
    fprintf(f, "\"");
    for (int i = 0; i < 16; i++) fprintf(f, "%02x", key[i]);
    fprintf(f, "\"");
  }
  fprintf(f, ",\"rootfsConfig\":%s,\"unixNanos\":%lld,\"errno\":%d}\n", config ? "\"set\"" : "null",
          (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, result);
  return fclose(f);
}

/* Whether the image's MAC check passes for key: 0 when it does (the image was built with this key). */
static int key_matches(const uint8_t *key) {
  const char *want = getenv("WARDEN_HARNESS_MOUNT_KEY"); /* lower-case hex, as the mount log writes keys */
  if (want == NULL || *want == '\0') return 1;
  if (key == NULL || strlen(want) != 32) return 0;
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++)
    if (want[2 * i] != digits[key[i] >> 4] || want[2 * i + 1] != digits[key[i] & 15]) return 0;
  return 1;
}

/* What Occlum would answer: the forced failure, EPERM once mounted (checked before the key, as a second
 * mount is refused whatever its key), EACCES for a key the image was not built with. */
static int mount_result(const uint8_t *key) {
  const char *f = getenv("WARDEN_HARNESS_MOUNT_FAIL");
  if (f != NULL && *f != '\0') return strcmp(f, "EACCES") == 0 ? EACCES : strcmp(f, "EPERM") == 0 ? EPERM : EIO;
  if (mounted) return EPERM;
  if (!key_matches(key)) return EACCES;
  return 0;
}

long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (number != 363) {
    long (*real)(long, ...) = next("syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
  const uint8_t *key = (const uint8_t *)a[0];
  int result = mount_result(key);
  if (record_mount(key, (const void *)a[1], result) != 0) result = EIO;
  if (result != 0) {
    errno = result;
    return -1;
  }
  mounted = 1;
  return 0;
}
