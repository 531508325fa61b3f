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

static const char *mount_hint(int e) {
  switch (e) {
    case EACCES: return " (wrong key or image MAC: was the image built with this key?)";
    case EPERM: return " (the root file system is already mounted)";
    case ENOSYS: return " (not running inside Occlum)";
    default: return "";
  }
}

int rootfs_try_mount(const uint8_t key[16]) {
  /* Through libc's syscall() wrapper: Occlum dispatches the number itself. */
  return syscall(SYS_OCCLUM_MOUNT_ROOTFS, key, NULL) == 0 ? 0 : errno;
}

int rootfs_mount(const uint8_t key[16]) {
  int e = rootfs_try_mount(key);
  if (e != 0) return fail(EXIT_MOUNT, "mount failed: syscall 363 errno %d (%s)%s", e, strerror(e), mount_hint(e));
  return 0;
}

int rootfs_mount_any(const uint8_t *const keys[], const unsigned long versions[], int n, const char *name) {
  char tried[128] = "";
  int e = EINVAL;
  for (int i = 0; i < n; i++) {
    size_t used = strlen(tried);
    snprintf(tried + used, sizeof tried - used, "%s%lu", i ? ", " : "", versions[i]);
    e = rootfs_try_mount(keys[i]);
    if (e == 0) return i;
    /* EACCES: the key's MAC check failed and nothing was mounted, so an older key may still open the
     * image (built before a rotation). Anything else (EPERM: already mounted, ...) is final. */
    if (e != EACCES) break;
  }
  const char *plural = strchr(tried, ',') ? "s" : "";
  if (e == EACCES)
    return fail(EXIT_MOUNT,
                "mount failed: syscall 363 errno %d (%s) with '%s' version%s %s: EACCES, wrong key or image MAC: "
                "was the image built with another key?",
                e, strerror(e), name, plural, tried);
  return fail(EXIT_MOUNT, "mount failed: syscall 363 errno %d (%s) with '%s' version%s %s%s", e, strerror(e), name, plural,
              tried, mount_hint(e));
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
  if (make_parents(path) != 0) return fail(EXIT_WRITE, "write failed: %s: %s", path, strerror(errno));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail(EXIT_WRITE, "write failed: %s: %s", path, strerror(errno));
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
  if (rc != 0) return fail(EXIT_WRITE, "write failed: %s: %s", path, strerror(e));
  return 0;
}
