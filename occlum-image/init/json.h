/* A small, bounded JSON reader: enough for the init's configuration and the server's few answers.
 * It tokenizes the whole document (RFC 8259 grammar, depth and token count bounded) and lets the
 * caller look up members; strings are decoded on demand into caller buffers. */
#ifndef WARDEN_JSON_H
#define WARDEN_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct {
  json_type type;
  size_t start, end; /* source range; for strings, the bytes between the quotes */
  int next;          /* index of the token after this value's whole subtree */
  int size;          /* members (object) or elements (array) */
} json_tok;

#define JSON_MAX_TOKENS 4096
#define JSON_MAX_DEPTH 32

typedef struct {
  const char *src;
  size_t len;
  int count;
  json_tok tok[JSON_MAX_TOKENS];
} json_doc;

/* Returns 0 when src is one valid JSON value (surrounding whitespace allowed). */
int json_parse(json_doc *doc, const char *src, size_t len);

/* Member value index of object token obj, or -1. Keys are compared after decoding. */
int json_get(const json_doc *doc, int obj, const char *key);
/* Index of element i of array token arr, or -1. */
int json_at(const json_doc *doc, int arr, int i);
/* Index of the key token of the i-th member of object obj (its value is the next token), or -1. */
int json_member_key(const json_doc *doc, int obj, int i);

/* Decodes string token t into out (NUL-terminated); fails on overflow, on an embedded NUL, or if not a string. */
int json_str(const json_doc *doc, int t, char *out, size_t cap, size_t *out_len);
/* Non-negative integer (no fraction/exponent) up to max. */
int json_uint(const json_doc *doc, int t, unsigned long max, unsigned long *out);

#endif
