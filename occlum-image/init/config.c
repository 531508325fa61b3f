#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hpke.h"
#include "json.h"
#include "util.h"

#define CONFIG_MAX_BYTES 65536

static const char *KNOWN[] = {"url", "caFile", "serverHpkePublicKey", "rootfsKeySecret", "secrets", "timeoutSeconds"};

int config_valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CONFIG_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* Absolute, no "." or ".." components, no empty components: the init writes exactly where it was told. */
static int valid_abs_path(const char *p) {
  if (p[0] != '/' || p[1] == '\0') return 0;
  const char *s = p + 1;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) break;
    s = e + 1;
    if (*s == '\0') return 0; /* trailing slash: a directory, not a file */
  }
  return 1;
}

static int parse_url(config *cfg) {
  const char *u = cfg->url;
  /* https only: the secrets travel HPKE-sealed, but the challenge/response and refusals must not be spoofable. */
  if (strncmp(u, "https://", 8) != 0) return fail(EXIT_CONFIG, "config: url must start with https://");
  const char *h = u + 8, *hend, *rest;
  if (*h == '[') {
    hend = strchr(h, ']');
    if (!hend) return fail(EXIT_CONFIG, "config: url has an unterminated IPv6 literal");
    h++;
    rest = hend + 1;
  } else {
    hend = h + strcspn(h, ":/?#@");
    rest = hend;
  }
  size_t hl = (size_t)(hend - h);
  if (hl == 0 || hl >= sizeof cfg->host) return fail(EXIT_CONFIG, "config: url has no usable host");
  memcpy(cfg->host, h, hl);
  cfg->host[hl] = '\0';
  strcpy(cfg->port, "443");
  if (*rest == ':') {
    rest++;
    size_t pl = strspn(rest, "0123456789");
    unsigned long port = pl > 0 && pl <= 5 ? strtoul(rest, NULL, 10) : 0;
    if (port == 0 || port > 65535) return fail(EXIT_CONFIG, "config: url has a bad port");
    snprintf(cfg->port, sizeof cfg->port, "%lu", port);
    rest += pl;
  }
  if (*rest != '\0' && *rest != '/') return fail(EXIT_CONFIG, "config: url may not carry user info, query or fragment");
  if (strpbrk(rest, "?#@ \t\r\n")) return fail(EXIT_CONFIG, "config: url may not carry user info, query or fragment");
  size_t rl = strlen(rest);
  while (rl > 0 && rest[rl - 1] == '/') rl--;
  memcpy(cfg->prefix, rest, rl);
  cfg->prefix[rl] = '\0';
  return 0;
}

static int get_string(const json_doc *d, int obj, const char *key, char *out, size_t cap, int required) {
  int t = json_get(d, obj, key);
  if (t < 0) return required ? fail(EXIT_CONFIG, "config: missing \"%s\"", key) : 1;
  size_t n;
  if (json_str(d, t, out, cap, &n) != 0 || n == 0) return fail(EXIT_CONFIG, "config: \"%s\" must be a non-empty string of at most %zu bytes", key, cap - 1);
  return 0;
}

static int parse_secrets(const json_doc *d, int arr, config *cfg) {
  if (arr < 0) return 0;
  if (d->tok[arr].type != JSON_ARRAY) return fail(EXIT_CONFIG, "config: \"secrets\" must be an array");
  if (d->tok[arr].size > CONFIG_MAX_SECRETS) return fail(EXIT_CONFIG, "config: at most %d further secrets", CONFIG_MAX_SECRETS);
  for (int i = 0; i < d->tok[arr].size; i++) {
    int o = json_at(d, arr, i);
    config_secret *s = &cfg->secrets[i];
    if (d->tok[o].type != JSON_OBJECT) return fail(EXIT_CONFIG, "config: secrets[%d] must be an object", i);
    for (int m = 0; m < d->tok[o].size; m++) {
      char k[32];
      if (json_str(d, json_member_key(d, o, m), k, sizeof k, NULL) != 0 ||
          (strcmp(k, "name") && strcmp(k, "path") && strcmp(k, "mode")))
        return fail(EXIT_CONFIG, "config: secrets[%d] has an unknown member", i);
    }
    if (get_string(d, o, "name", s->name, sizeof s->name, 1) || get_string(d, o, "path", s->path, sizeof s->path, 1))
      return -1;
    if (!config_valid_name(s->name)) return fail(EXIT_CONFIG, "config: secrets[%d].name must be [A-Za-z0-9._-]{1,128}", i);
    if (!valid_abs_path(s->path)) return fail(EXIT_CONFIG, "config: secrets[%d].path must be an absolute path without . or ..", i);
    char mode[8] = "0600";
    int r = get_string(d, o, "mode", mode, sizeof mode, 0);
    if (r < 0) return -1;
    if (strlen(mode) != 4 || mode[0] != '0' || strspn(mode, "01234567") != 4)
      return fail(EXIT_CONFIG, "config: secrets[%d].mode must be an octal string like \"0600\"", i);
    s->mode = (mode_t)strtoul(mode, NULL, 8);
    if (strcmp(s->name, cfg->rootfs_key_secret) == 0)
      return fail(EXIT_CONFIG, "config: secrets[%d] repeats the root file system key secret", i);
    for (int j = 0; j < i; j++)
      if (strcmp(cfg->secrets[j].name, s->name) == 0 || strcmp(cfg->secrets[j].path, s->path) == 0)
        return fail(EXIT_CONFIG, "config: secrets[%d] repeats a name or path", i);
    cfg->n_secrets++;
  }
  return 0;
}

static char *read_file(const char *path, size_t max, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *buf = malloc(max + 1);
  size_t n = 0;
  while (buf != NULL) {
    ssize_t r = read(fd, buf + n, max + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { free(buf); buf = NULL; break; }
    if (r == 0) break;
    n += (size_t)r;
    if (n > max) { free(buf); buf = NULL; errno = EFBIG; break; }
  }
  close(fd);
  if (buf) buf[n] = '\0', *len = n;
  return buf;
}

int config_load(const char *path, config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->timeout_seconds = 10;
  size_t len;
  char *text = read_file(path, CONFIG_MAX_BYTES, &len);
  if (text == NULL) return fail(EXIT_CONFIG, "config: cannot read %s: %s", path, strerror(errno));
  json_doc *d = malloc(sizeof *d);
  int rc = -1;
  if (d == NULL) { fail(EXIT_INTERNAL, "out of memory"); goto out; }
  if (json_parse(d, text, len) != 0 || d->tok[0].type != JSON_OBJECT) {
    fail(EXIT_CONFIG, "config: %s is not a JSON object", path);
    goto out;
  }
  for (int m = 0; m < d->tok[0].size; m++) {
    char k[32];
    int known = 0;
    if (json_str(d, json_member_key(d, 0, m), k, sizeof k, NULL) == 0)
      for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) known |= strcmp(k, KNOWN[i]) == 0;
    /* Unknown members are refused: a typo must not silently drop a setting. */
    if (!known) { fail(EXIT_CONFIG, "config: unknown member in %s", path); goto out; }
  }
  char key_b64[128];
  if (get_string(d, 0, "url", cfg->url, sizeof cfg->url, 1) || parse_url(cfg) ||
      get_string(d, 0, "caFile", cfg->ca_file, sizeof cfg->ca_file, 1) ||
      get_string(d, 0, "serverHpkePublicKey", key_b64, sizeof key_b64, 1) ||
      get_string(d, 0, "rootfsKeySecret", cfg->rootfs_key_secret, sizeof cfg->rootfs_key_secret, 1))
    goto out;
  if (!config_valid_name(cfg->rootfs_key_secret)) { fail(EXIT_CONFIG, "config: rootfsKeySecret must be [A-Za-z0-9._-]{1,128}"); goto out; }
  size_t kn = 0;
  uint8_t *key = b64_decode(key_b64, strlen(key_b64), 65, &kn);
  EVP_PKEY *pk = key && kn == 65 ? hpke_p256_public(key) : NULL;
  if (pk == NULL) {
    free(key);
    fail(EXIT_CONFIG, "config: serverHpkePublicKey must be base64 of an uncompressed P-256 point (65 bytes)");
    goto out;
  }
  EVP_PKEY_free(pk);
  memcpy(cfg->server_hpke_key, key, 65);
  free(key);
  /* A relative caFile is resolved against the config file's directory (both live in the initfs). */
  if (cfg->ca_file[0] != '/') {
    const char *slash = strrchr(path, '/');
    char joined[sizeof cfg->ca_file];
    int dl = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    if (snprintf(joined, sizeof joined, "%.*s/%s", dl, dir, cfg->ca_file) >= (int)sizeof joined) {
      fail(EXIT_CONFIG, "config: caFile path too long");
      goto out;
    }
    memcpy(cfg->ca_file, joined, sizeof joined);
  }
  struct stat st;
  errno = 0;
  if (stat(cfg->ca_file, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(EXIT_CONFIG, "config: caFile %s is not readable: %s", cfg->ca_file, strerror(errno ? errno : EINVAL));
    goto out;
  }
  int t = json_get(d, 0, "timeoutSeconds");
  unsigned long timeout;
  if (t >= 0) {
    if (json_uint(d, t, 600, &timeout) != 0 || timeout == 0) { fail(EXIT_CONFIG, "config: timeoutSeconds must be an integer 1..600"); goto out; }
    cfg->timeout_seconds = (unsigned)timeout;
  }
  if (parse_secrets(d, json_get(d, 0, "secrets"), cfg) != 0) goto out;
  rc = 0;
out:
  free(d);
  free(text);
  return rc;
}
