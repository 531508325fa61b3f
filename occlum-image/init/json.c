#include "json.h"

#include <string.h>

typedef struct {
  json_doc *doc;
  size_t pos;
} parser;

static void skip_ws(parser *p) {
  while (p->pos < p->doc->len) {
    char c = p->doc->src[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int new_tok(parser *p, json_type type) {
  if (p->doc->count >= JSON_MAX_TOKENS) return -1;
  int i = p->doc->count++;
  json_tok *t = &p->doc->tok[i];
  t->type = type;
  t->start = p->pos;
  t->end = p->pos;
  t->size = 0;
  t->next = i + 1;
  return i;
}

static int parse_value(parser *p, int depth);

static int parse_string(parser *p) {
  const char *s = p->doc->src;
  p->pos++; /* opening quote */
  int i = new_tok(p, JSON_STRING);
  if (i < 0) return -1;
  while (p->pos < p->doc->len) {
    unsigned char c = (unsigned char)s[p->pos];
    if (c == '"') {
      p->doc->tok[i].end = p->pos;
      p->pos++;
      return i;
    }
    if (c < 0x20) return -1;
    if (c == '\\') {
      if (++p->pos >= p->doc->len) return -1;
      char e = s[p->pos];
      if (e == 'u') {
        for (int k = 1; k <= 4; k++) {
          if (p->pos + k >= p->doc->len) return -1;
          char h = s[p->pos + k];
          if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return -1;
        }
        p->pos += 4;
      } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
        return -1;
      }
    }
    p->pos++;
  }
  return -1;
}

static int parse_literal(parser *p, const char *word, json_type type) {
  size_t n = strlen(word);
  if (p->doc->len - p->pos < n || memcmp(p->doc->src + p->pos, word, n) != 0) return -1;
  int i = new_tok(p, type);
  if (i < 0) return -1;
  p->pos += n;
  p->doc->tok[i].end = p->pos;
  return i;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p) {
  const char *s = p->doc->src;
  size_t n = p->doc->len;
  int i = new_tok(p, JSON_NUMBER);
  if (i < 0) return -1;
  if (p->pos < n && s[p->pos] == '-') p->pos++;
  if (p->pos >= n || !is_digit(s[p->pos])) return -1;
  if (s[p->pos] == '0') p->pos++;
  else while (p->pos < n && is_digit(s[p->pos])) p->pos++;
  if (p->pos < n && s[p->pos] == '.') {
    p->pos++;
    if (p->pos >= n || !is_digit(s[p->pos])) return -1;
    while (p->pos < n && is_digit(s[p->pos])) p->pos++;
  }
  if (p->pos < n && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < n && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
    if (p->pos >= n || !is_digit(s[p->pos])) return -1;
    while (p->pos < n && is_digit(s[p->pos])) p->pos++;
  }
  p->doc->tok[i].end = p->pos;
  return i;
}

static int parse_container(parser *p, int depth, int is_object) {
  if (depth >= JSON_MAX_DEPTH) return -1;
  int i = new_tok(p, is_object ? JSON_OBJECT : JSON_ARRAY);
  if (i < 0) return -1;
  char close = is_object ? '}' : ']';
  p->pos++;
  skip_ws(p);
  if (p->pos < p->doc->len && p->doc->src[p->pos] == close) {
    p->pos++;
  } else {
    for (;;) {
      skip_ws(p);
      if (is_object) {
        if (p->pos >= p->doc->len || p->doc->src[p->pos] != '"' || parse_string(p) < 0) return -1;
        skip_ws(p);
        if (p->pos >= p->doc->len || p->doc->src[p->pos] != ':') return -1;
        p->pos++;
      }
      if (parse_value(p, depth + 1) < 0) return -1;
      p->doc->tok[i].size++;
      skip_ws(p);
      if (p->pos >= p->doc->len) return -1;
      char c = p->doc->src[p->pos++];
      if (c == close) break;
      if (c != ',') return -1;
    }
  }
  p->doc->tok[i].end = p->pos;
  p->doc->tok[i].next = p->doc->count;
  return i;
}

static int parse_value(parser *p, int depth) {
  skip_ws(p);
  if (p->pos >= p->doc->len) return -1;
  switch (p->doc->src[p->pos]) {
    case '{': return parse_container(p, depth, 1);
    case '[': return parse_container(p, depth, 0);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", JSON_BOOL);
    case 'f': return parse_literal(p, "false", JSON_BOOL);
    case 'n': return parse_literal(p, "null", JSON_NULL);
    default: return parse_number(p);
  }
}

int json_parse(json_doc *doc, const char *src, size_t len) {
  doc->src = src;
  doc->len = len;
  doc->count = 0;
  parser p = {doc, 0};
  if (parse_value(&p, 0) != 0) return -1;
  skip_ws(&p);
  return p.pos == len ? 0 : -1;
}

static unsigned hex4(const char *s) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char h = s[k];
    v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
  }
  return v;
}

int json_str(const json_doc *doc, int t, char *out, size_t cap, size_t *out_len) {
  if (t < 0 || t >= doc->count || doc->tok[t].type != JSON_STRING || cap == 0) return -1;
  const char *s = doc->src;
  size_t j = 0;
  for (size_t i = doc->tok[t].start; i < doc->tok[t].end; i++) {
    unsigned cp = (unsigned char)s[i];
    if (cp == '\\') {
      char e = s[++i];
      switch (e) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
          cp = hex4(s + i + 1);
          i += 4;
          /* A surrogate pair encodes one code point; a lone surrogate is refused. */
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 6 >= doc->tok[t].end || s[i + 1] != '\\' || s[i + 2] != 'u') return -1;
            unsigned lo = hex4(s + i + 3);
            if (lo < 0xDC00 || lo > 0xDFFF) return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return -1;
          }
          break;
        default: cp = (unsigned char)e; break;
      }
      if (cp == 0) return -1;
      char buf[4];
      size_t n;
      if (cp < 0x80) { buf[0] = (char)cp; n = 1; }
      else if (cp < 0x800) { buf[0] = (char)(0xC0 | cp >> 6); buf[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
      else if (cp < 0x10000) { buf[0] = (char)(0xE0 | cp >> 12); buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
      else { buf[0] = (char)(0xF0 | cp >> 18); buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
      if (j + n >= cap) return -1;
      memcpy(out + j, buf, n);
      j += n;
    } else {
      if (j + 1 >= cap) return -1;
      out[j++] = (char)cp;
    }
  }
  out[j] = '\0';
  if (out_len) *out_len = j;
  return 0;
}

int json_member_key(const json_doc *doc, int obj, int i) {
  if (obj < 0 || obj >= doc->count || doc->tok[obj].type != JSON_OBJECT || i < 0 || i >= doc->tok[obj].size) return -1;
  int k = obj + 1;
  for (int m = 0; m < i; m++) k = doc->tok[k + 1].next;
  return k;
}

int json_get(const json_doc *doc, int obj, const char *key) {
  if (obj < 0 || obj >= doc->count || doc->tok[obj].type != JSON_OBJECT) return -1;
  size_t want = strlen(key);
  int k = obj + 1;
  for (int m = 0; m < doc->tok[obj].size; m++) {
    char buf[128];
    size_t n;
    if (json_str(doc, k, buf, sizeof buf, &n) == 0 && n == want && memcmp(buf, key, n) == 0) return k + 1;
    k = doc->tok[k + 1].next;
  }
  return -1;
}

int json_at(const json_doc *doc, int arr, int i) {
  if (arr < 0 || arr >= doc->count || doc->tok[arr].type != JSON_ARRAY || i < 0 || i >= doc->tok[arr].size) return -1;
  int k = arr + 1;
  for (int m = 0; m < i; m++) k = doc->tok[k].next;
  return k;
}

int json_uint(const json_doc *doc, int t, unsigned long max, unsigned long *out) {
  if (t < 0 || t >= doc->count || doc->tok[t].type != JSON_NUMBER) return -1;
  unsigned long v = 0;
  for (size_t i = doc->tok[t].start; i < doc->tok[t].end; i++) {
    char c = doc->src[i];
    if (c < '0' || c > '9') return -1;
    if (v > (max - (unsigned long)(c - '0')) / 10) return -1;
    v = v * 10 + (unsigned long)(c - '0');
  }
  *out = v;
  return 0;
}
