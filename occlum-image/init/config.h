/* The init's configuration: a JSON file in the initfs (so measured into MRENCLAVE). */
#ifndef WARDEN_CONFIG_H
#define WARDEN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/warden/init.json"
#define CONFIG_MAX_SECRETS 32
#define CONFIG_NAME_MAX 128
#define CONFIG_PATH_MAX 512

typedef struct {
  char name[CONFIG_NAME_MAX + 1];
  char path[CONFIG_PATH_MAX + 1];
  mode_t mode;
} config_secret;

typedef struct {
  char url[CONFIG_PATH_MAX + 1];  /* https://host[:port][/prefix] */
  char host[256];                 /* as in the URL, without brackets; the name the certificate must carry */
  char port[8];
  char prefix[CONFIG_PATH_MAX + 1]; /* path prefix before /v1/..., without trailing slash */
  char ca_file[CONFIG_PATH_MAX + 1];
  uint8_t server_hpke_key[65];
  char rootfs_key_secret[CONFIG_NAME_MAX + 1];
  config_secret secrets[CONFIG_MAX_SECRETS];
  int n_secrets;
  unsigned timeout_seconds;
} config;

/* Reads and validates the file; on failure records a one-line reason via fail(EXIT_CONFIG, ...). */
int config_load(const char *path, config *cfg);

/* Secret names: 1..128 chars of [A-Za-z0-9._-], so they need no escaping in JSON or logs. */
int config_valid_name(const char *s);

#endif
