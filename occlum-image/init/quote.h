/* Gets a DCAP quote from Occlum's /dev/sgx pseudo-device (ioctls 's' 7 and 8). */
#ifndef WARDEN_QUOTE_H
#define WARDEN_QUOTE_H

#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd quote over report_data (64 bytes), trimmed to the length its header declares,
 * or NULL after fail(EXIT_QUOTE, ...). Occlum answers every /dev/sgx ioctl failure with EINVAL (busy or
 * not ready quoting enclave, PCCS trouble, a short buffer: src/libos/src/fs/dev_fs/dev_sgx/mod.rs wraps them
 * all in FsError::IOCTLError, which src/libos/crates/errno/src/to_errno.rs maps to EINVAL), so EINVAL is
 * retried with backoff for about 2 s in all, then reported with its likely causes. */
uint8_t *quote_generate(const uint8_t report_data[64], size_t *quote_len);

#endif
