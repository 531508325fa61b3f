/* Occlum's MountRootFS (syscall 363) and writing the further secrets into the mounted root. */
#ifndef WARDEN_ROOTFS_H
#define WARDEN_ROOTFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SYS_OCCLUM_MOUNT_ROOTFS 363

/* syscall(363, key, NULL): NULL config = "general mount" of the image built into .Occlum_sys.json. */
int rootfs_mount(const uint8_t key[16]);
/* The same without recording a failure: 0 when mounted, else the errno. */
int rootfs_try_mount(const uint8_t key[16]);
/* Tries keys[0], keys[1], ... (newest version first) until one mounts; only a wrong key's EIO (or EACCES),
 * which leaves nothing mounted, moves on to the next. Returns the index of the key that mounted, or -1 with the failure recorded
 * (naming secret `name` and the versions tried, never a key). */
int rootfs_mount_any(const uint8_t *const keys[], const unsigned long versions[], int n, const char *name);

/* Writes data to path (creating missing parent directories 0700), never following a symlink at path. */
int rootfs_write_secret(const char *path, mode_t mode, const uint8_t *data, size_t len);

#endif
