#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* Occlum's answers to syscall 363 (occlum/occlum 0.31.0):
 *   EIO    the SEFS image does not open with this key: SGX-PFS fails before any MAC comparison, and the error
 *          travels as FsError::DeviceError (src/libos/src/fs/sefs/sgx_storage.rs), which
 *          src/libos/crates/errno/src/to_errno.rs maps to EIO; also a damaged image. Nothing is mounted.
 *   EACCES not what Occlum returns for a wrong key, but a root-MAC mismatch in sgx_storage.rs is EACCES
 *          before that mapping: treated like EIO, so a future Occlum that passes it on still rotates.
 *   EPERM  the root file system is mounted already: MOUNT_ONCE (src/libos/src/fs/fs_ops/mount.rs) is set
 *          only after a successful mount, so a failed call may be retried with another key.
 *   EINVAL with a NULL second argument: Occlum 0.29.5 and older and branch 1.0 want a pointer to the
 *          Occlum.json MAC there (1.0:src/libos/src/fs/syscalls.rs); 0.29.6 and later take NULL. */
#define UNSUPPORTED_OCCLUM                                                                                   \
  "this Occlum version is not supported: its syscall 363 wants the Occlum.json MAC as second argument "   \
  "(Occlum 0.29.5 and older, branch 1.0); supported: Occlum 0.30.x and 0.31.x"

static int wrong_key(int e) { return e == EIO || e == EACCES; }

static const char *mount_hint(int e) {
  switch (e) {
    case EIO:
    case EACCES: return ": wrong key (or a damaged image): was the image built with another key?";
    case EPERM: return ": the root file system is already mounted";
    case EINVAL: return ": " UNSUPPORTED_OCCLUM;
    case ENOSYS: return ": not running inside Occlum";
    default: return "";
  }
}

int rootfs_try_mount(const uint8_t key[16]) {
  /* Through libc's syscall() wrapper: Occlum dispatches the number itself. NULL config = general mount. */
  return syscall(SYS_OCCLUM_MOUNT_ROOTFS, key, NULL) == 0 ? 0 : errno;
}

int rootfs_mount(const uint8_t key[16]) {
  int e = rootfs_try_mount(key);
  if (e != 0) return fail(EXIT_MOUNT, "mount failed: syscall 363 errno %d %s%s", e, errno_name(e), mount_hint(e));
  return 0;
}

int rootfs_mount_any(const uint8_t *const keys[], const unsigned long versions[], int n, const char *name) {
  char tried[128] = "", errnos[64] = "";
  int e = EINVAL;
  for (int i = 0; i < n; i++) {
    size_t used = strlen(tried), eused = strlen(errnos);
    e = rootfs_try_mount(keys[i]);
    if (e == 0) return i;
    snprintf(tried + used, sizeof tried - used, "%s%lu", i ? ", " : "", versions[i]);
    snprintf(errnos + eused, sizeof errnos - eused, "%s%s", i ? ", " : "", errno_name(e));
    /* A wrong key leaves nothing mounted, so an older key may still open an image built before a rotation.
     * Anything else (already mounted, unsupported Occlum, ...) is final. */
    if (!wrong_key(e)) break;
  }
  const char *plural = strchr(tried, ',') ? "s" : "";
  return fail(EXIT_MOUNT, "mount failed: syscall 363 errno %d %s with '%s' version%s %s (%s)%s", e, errno_name(e), name,
              plural, tried, errnos, mount_hint(e));
}

static int make_parents(const char *path) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return -1;
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return 0;
}

int rootfs_write_secret(const char *path, mode_t mode, const uint8_t *data, size_t len) {
  if (make_parents(path) != 0) return fail(EXIT_WRITE, "write failed: %s: errno %d %s (%s)", path, errno, errno_name(errno), strerror(errno));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail(EXIT_WRITE, "write failed: %s: errno %d %s (%s)", path, errno, errno_name(errno), strerror(errno));
  /* O_CREAT honours the umask and an existing file keeps its mode: set it explicitly. */
  int rc = fchmod(fd, mode);
  while (rc == 0 && len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { rc = -1; break; }
    data += w;
    len -= (size_t)w;
  }
  if (rc == 0) rc = fsync(fd);
  int e = errno;
  if (close(fd) != 0 && rc == 0) rc = -1, e = errno;
  if (rc != 0) return fail(EXIT_WRITE, "write failed: %s: errno %d %s (%s)", path, e, errno_name(e), strerror(e));
  return 0;
}
