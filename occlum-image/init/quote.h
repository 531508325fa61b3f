/* Gets a DCAP quote from Occlum's /dev/sgx pseudo-device (ioctls 's' 7 and 8). */
#ifndef WARDEN_QUOTE_H
#define WARDEN_QUOTE_H

#include <stddef.h>
#include <stdint.h>

/* Returns a malloc'd quote over report_data (64 bytes), trimmed to the length its header declares,
 * or NULL after fail(EXIT_QUOTE, ...). EBUSY is retried a bounded number of times. */
uint8_t *quote_generate(const uint8_t report_data[64], size_t *quote_len);

#endif
