/* LD_PRELOAD stand-in for the two places where Warden's init touches Occlum, so tests run the real init
 * binary (glibc or musl build; this library is built with the same toolchain) on plain Linux. It follows
 * Occlum's source (occlum/occlum 0.31.0, master 690d5dbf; branch 1.0 at 14f2b948), file by file:
 *
 * /dev/sgx (src/libos/src/fs/dev_fs/dev_sgx/mod.rs): every error of an ioctl is wrapped in
 * FsError::IOCTLError, which src/libos/crates/errno/src/to_errno.rs maps to EINVAL. So each failure below
 * reaches the caller as EINVAL, whatever its cause:
 *   - SGXIOC_GET_DCAP_QUOTE_SIZE answers WARDEN_HARNESS_QUOTE_SIZE (default 16384);
 *   - SGXIOC_GEN_DCAP_QUOTE with *quote_len below that size ("provided quote is too small"), with a NULL
 *     pointer (check_ptr / check_mut_array), or when the quote source fails (the ocall to the quoting
 *     enclave, util/sgx/dcap/quote_generator.rs); on success it copies the quote into the buffer and, like
 *     Occlum, leaves *quote_len alone (the quote is followed by zero bytes up to the reported size);
 *   - WARDEN_HARNESS_QUOTE_BUSY=N: the first N GEN ioctls fail (a busy quoting enclave);
 *   - WARDEN_HARNESS_QUOTE_NOT_READY=1: both ioctls fail ("DCAP device not ready": QE/PCCS set-up failed
 *     when the LibOS started; Occlum returns EIO inside, EINVAL outside);
 *   - any other request on /dev/sgx ("unknown ioctl cmd for /dev/sgx").
 *   The quote comes from the command in WARDEN_HARNESS_QUOTE_CMD, run through /bin/sh with the 64-byte
 *   report data as 128 hex characters appended as its last argument (its stdout is the binary quote), or
 *   from the Unix stream socket in WARDEN_HARNESS_QUOTE_SOCKET (send 64 bytes of report data, read a u32
 *   little-endian length and the quote; no process start per quote, for benchmarks).
 *   WARDEN_HARNESS_IOCTL_LOG: one JSON line per /dev/sgx ioctl: {"ioctl":"size"|"gen"|"other","errno":E,
 *   "unixNanos":N}.
 *
 * syscall(363, key, config) (MountRootFS):
 *   - WARDEN_HARNESS_OCCLUM=VERSION (e.g. 0.29.5 or 1.0): a NULL second argument is EINVAL, as Occlum 0.29.5
 *     and older and branch 1.0 want a pointer to the Occlum.json MAC there (1.0:src/libos/src/fs/syscalls.rs,
 *     do_mount_rootfs: "occlum_json_mac_ptr cannot be null"; the same in tag 0.29.5). Unset, or 0.29.6 and
 *     later: NULL = general mount (master:src/libos/src/fs/syscalls.rs).
 *   - EPERM after a successful mount: MOUNT_ONCE in src/libos/src/fs/fs_ops/mount.rs is set only once a
 *     mount succeeded, so a failed call may be retried and a successful one is final.
 *   - WARDEN_HARNESS_MOUNT_KEY=HEX (32 hex digits: the key the image was built with): any other key fails
 *     with EIO. Opening the SEFS image with the wrong key fails in SGX-PFS before any MAC comparison; the
 *     error travels as FsError::DeviceError (src/libos/src/fs/sefs/sgx_storage.rs), which to_errno.rs maps
 *     to EIO. Occlum never hands EACCES to the caller for a wrong key.
 *   - WARDEN_HARNESS_MOUNT_FAIL=NAME or number (EIO, EACCES, EPERM, EINVAL, ENOMEM, ...): every call fails
 *     with that errno, without mounting.
 *   Each call appends {"key":HEX|null,"rootfsConfig":null|"set","unixNanos":N,"errno":E} (E = 0 when it
 *   mounted) to the file in WARDEN_HARNESS_MOUNT_LOG.
 *
 * The network, for the tests of the boot's client side: with WARDEN_HARNESS_NET_LOG set, each connect() to an
 * IPv4/IPv6 address, each TCP_NODELAY setsockopt() and each write()/send() on such a socket is appended as
 * {"call":"connect"|"nodelay"|"write","fd":N,"value":V} (V: the option's value, or the bytes written), and
 * passed on. OpenSSL's socket BIO writes with write() (never send()), through the PLT in both builds.
 *
 * The init calls libc's syscall() and ioctl() functions (glibc and musl alike), which the dynamic linker
 * binds to this library first; everything else goes to the next definition (RTLD_NEXT). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Not <sys/ioctl.h>: glibc declares ioctl(int, unsigned long, ...) and musl ioctl(int, int, ...); this file
 * defines ioctl with the caller's libc's type. Occlum itself reads the request as a u32. */
#ifdef __GLIBC__
typedef unsigned long ioctl_request;
#else
typedef int ioctl_request;
#endif

#define SGXIOC_GET_DCAP_QUOTE_SIZE 0x80047307u
#define SGXIOC_GEN_DCAP_QUOTE 0xc0187308u
#define DEFAULT_QUOTE_SIZE 16384u

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

static long long now_nanos(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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

OPEN_WRAPPER(open)
OPENAT_WRAPPER(openat)

#ifdef __GLIBC__
/* glibc only: its large-file names are separate symbols (musl maps them to open/openat in its headers),
 * and _FORTIFY_SOURCE turns open() with non-constant flags into __open_2. */
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat64)

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
#endif

static int in_net_log;

static int is_inet_socket(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

static void net_log(const char *call, int fd, long value) {
  const char *log = getenv("WARDEN_HARNESS_NET_LOG");
  if (log == NULL || *log == '\0' || in_net_log) return;
  in_net_log = 1;
  FILE *f = fopen(log, "a");
  if (f != NULL) fprintf(f, "{\"call\":\"%s\",\"fd\":%d,\"value\":%ld}\n", call, fd, value), fclose(f);
  in_net_log = 0;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  int (*real)(int, const struct sockaddr *, socklen_t) = next("connect");
  if (addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) net_log("connect", fd, 0);
  return real(fd, addr, len);
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  int (*real)(int, int, int, const void *, socklen_t) = next("setsockopt");
  if (level == IPPROTO_TCP && name == TCP_NODELAY && value != NULL && len >= sizeof(int)) net_log("nodelay", fd, *(const int *)value);
  return real(fd, level, name, value, len);
}

ssize_t write(int fd, const void *buf, size_t n) {
  ssize_t (*real)(int, const void *, size_t) = next("write");
  ssize_t r = real(fd, buf, n);
  if (r > 0 && !in_net_log && getenv("WARDEN_HARNESS_NET_LOG") && is_inet_socket(fd)) net_log("write", fd, (long)r);
  return r;
}

int close(int fd) {
  if (fd >= 0 && fd == sgx_fd) sgx_fd = -1;
  int (*real)(int) = next("close");
  return real(fd);
}

/* The quote source: 0 and the quote in out/len, or -1 (the cause goes to stderr: Occlum logs it too). */
static int run_quote_cmd(const uint8_t rd[64], uint8_t *out, uint32_t cap, uint32_t *len) {
  const char *cmd = getenv("WARDEN_HARNESS_QUOTE_CMD");
  if (cmd == NULL || *cmd == '\0') {
    fprintf(stderr, "harness: no quote source (WARDEN_HARNESS_QUOTE_CMD or WARDEN_HARNESS_QUOTE_SOCKET)\n");
    return -1;
  }
  char hex[129];
  for (int i = 0; i < 64; i++) snprintf(hex + 2 * i, 3, "%02x", rd[i]);
  size_t n = strlen(cmd) + 130;
  char *line = malloc(n);
  if (line == NULL) return -1;
  snprintf(line, n, "%s %s", cmd, hex);
  unsetenv("LD_PRELOAD"); /* the quote command is an ordinary program, not an enclave */
  FILE *p = popen(line, "r");
  free(line);
  if (p == NULL) return -1;
  size_t got = 0;
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
    return -1;
  }
  if (overflow) {
    fprintf(stderr, "harness: the quote is larger than the quote size reported\n");
    return -1;
  }
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

static int socket_quote(const char *path, const uint8_t rd[64], uint8_t *out, uint32_t cap, uint32_t *len) {
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  uint8_t hdr[4];
  int rc = -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && write(fd, rd, 64) == 64 && read_full(fd, hdr, 4) == 0) {
    uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (n <= cap && read_full(fd, out, n) == 0) *len = n, rc = 0;
  }
  close(fd);
  return rc;
}

static int env_flag(const char *name) {
  const char *v = getenv(name);
  return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static uint32_t quote_size(void) {
  const char *s = getenv("WARDEN_HARNESS_QUOTE_SIZE");
  return s && *s ? (uint32_t)strtoul(s, NULL, 10) : DEFAULT_QUOTE_SIZE;
}

/* What Occlum's DevSgx::ioctl does; returns 0 or -1 for "some inner error" (IOCTLError). */
static int sgx_ioctl(uint32_t req, void *arg) {
  if (req == SGXIOC_GET_DCAP_QUOTE_SIZE) {
    if (arg == NULL || env_flag("WARDEN_HARNESS_QUOTE_NOT_READY")) return -1;
    *(uint32_t *)arg = quote_size();
    return 0;
  }
  if (req != SGXIOC_GEN_DCAP_QUOTE) return -1;
  gen_arg *g = arg;
  if (g == NULL || g->report_data == NULL || g->quote_len == NULL || g->quote_buf == NULL) return -1;
  uint32_t cap = *g->quote_len, size = quote_size();
  if (env_flag("WARDEN_HARNESS_QUOTE_NOT_READY")) return -1;
  if (cap < size) return -1; /* "provided quote is too small" */
  if (busy_left < 0) {
    const char *b = getenv("WARDEN_HARNESS_QUOTE_BUSY");
    busy_left = b ? atoi(b) : 0;
  }
  if (busy_left > 0) {
    busy_left--;
    return -1;
  }
  uint32_t got = 0;
  const char *sock = getenv("WARDEN_HARNESS_QUOTE_SOCKET");
  int rc = sock && *sock ? socket_quote(sock, g->report_data, g->quote_buf, size, &got)
                         : run_quote_cmd(g->report_data, g->quote_buf, size, &got);
  if (rc != 0) return -1;
  memset(g->quote_buf + got, 0, size - got); /* Occlum copies exactly quote_size bytes */
  return 0;
}

static void log_ioctl(uint32_t req, int e) {
  const char *log = getenv("WARDEN_HARNESS_IOCTL_LOG");
  if (log == NULL || *log == '\0') return;
  FILE *f = fopen(log, "a");
  if (f == NULL) return;
  const char *what = req == SGXIOC_GET_DCAP_QUOTE_SIZE ? "size" : req == SGXIOC_GEN_DCAP_QUOTE ? "gen" : "other";
  fprintf(f, "{\"ioctl\":\"%s\",\"errno\":%d,\"unixNanos\":%lld}\n", what, e, now_nanos());
  fclose(f);
}

int ioctl(int fd, ioctl_request req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (fd < 0 || fd != sgx_fd) {
    int (*real)(int, ioctl_request, ...) = next("ioctl");
    return real(fd, req, arg);
  }
  uint32_t cmd = (uint32_t)req;
  int e = sgx_ioctl(cmd, arg) == 0 ? 0 : EINVAL; /* IOCTLError -> EINVAL (to_errno.rs) */
  log_ioctl(cmd, e);
  if (e != 0) {
    errno = e;
    return -1;
  }
  return 0;
}

static int record_mount(const uint8_t *key, const void *config, int result) {
  const char *log = getenv("WARDEN_HARNESS_MOUNT_LOG");
  if (log == NULL) return 0;
  FILE *f = fopen(log, "a");
  if (f == NULL) return -1;
  fprintf(f, "{\"key\":");
  if (key == NULL) {
    fprintf(f, "null");
  } else {
    fprintf(f, "\"");
    for (int i = 0; i < 16; i++) fprintf(f, "%02x", key[i]);
    fprintf(f, "\"");
  }
  fprintf(f, ",\"rootfsConfig\":%s,\"unixNanos\":%lld,\"errno\":%d}\n", config ? "\"set\"" : "null", now_nanos(), result);
  return fclose(f);
}

/* Whether the image's SEFS opens with key (the image was built with it). */
static int key_matches(const uint8_t *key) {
  const char *want = getenv("WARDEN_HARNESS_MOUNT_KEY"); /* lower-case hex, as the mount log writes keys */
  if (want == NULL || *want == '\0') return 1;
  if (key == NULL || strlen(want) != 32) return 0;
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++)
    if (want[2 * i] != digits[key[i] >> 4] || want[2 * i + 1] != digits[key[i] & 15]) return 0;
  return 1;
}

static int errno_named(const char *s) {
  static const struct { const char *name; int e; } names[] = {
      {"EIO", EIO}, {"EACCES", EACCES}, {"EPERM", EPERM}, {"EINVAL", EINVAL}, {"ENOMEM", ENOMEM}, {"ENOENT", ENOENT}, {"EFAULT", EFAULT}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i].name) == 0) return names[i].e;
  int n = atoi(s);
  return n > 0 ? n : EIO;
}

/* Whether the Occlum version named in WARDEN_HARNESS_OCCLUM wants the Occlum.json MAC as 363's second
 * argument: 0.29.5 and older (0.29.6 took the 0.30 interface), and branch 1.0 (version 0.29.5 too). */
static int wants_config_mac(void) {
  const char *v = getenv("WARDEN_HARNESS_OCCLUM");
  unsigned major = 0, minor = 0, patch = 0;
  if (v == NULL || *v == '\0') return 0;
  int n = sscanf(v, "%u.%u.%u", &major, &minor, &patch);
  if (n < 2) return 0;
  if (major == 1 && minor == 0) return 1;
  return major == 0 && (minor < 29 || (minor == 29 && (n < 3 || patch <= 5)));
}

/* What Occlum answers, in the order its code checks. */
static int mount_result(const uint8_t *key, const void *config) {
  /* The NULL check comes first in those versions' do_mount_rootfs (1.0:src/libos/src/fs/syscalls.rs). */
  if (config == NULL && wants_config_mac()) return EINVAL;
  const char *f = getenv("WARDEN_HARNESS_MOUNT_FAIL");
  if (f != NULL && *f != '\0') return errno_named(f);
  if (mounted) return EPERM;       /* fs_ops/mount.rs: MOUNT_ONCE.is_completed() */
  if (!key_matches(key)) return EIO; /* sefs/sgx_storage.rs -> FsError::DeviceError -> EIO */
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
  const void *config = (const void *)a[1];
  int result = mount_result(key, config);
  if (record_mount(key, config, result) != 0) result = EIO;
  if (result != 0) {
    errno = result;
    return -1;
  }
  mounted = 1;
  return 0;
}
