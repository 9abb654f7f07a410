#include "lf_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  unsigned cp = c & (0x3F >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

int lf_utf8_valid(const char *s, size_t len, size_t *bad) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t k = seq_len(u + i, len - i);
    if (!k) {
      if (bad)
        *bad = i;
      return 0;
    }
    i += k;
  }
  return 1;
}

static int is_control(const unsigned char *u, size_t k) {
  return (k == 1 && (u[0] < 0x20 || u[0] == 0x7F)) ||
         (k == 2 && u[0] == 0xC2 && u[1] < 0xA0);
}

int lf_text_has_control(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t k = seq_len(u + i, len - i);
    if (!k || is_control(u + i, k))
      return 1;
    i += k;
  }
  return 0;
}

char *lf_text_clean(char *dst, size_t size, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t k = seq_len(u + i, len - i);
    char esc[16];
    const char *piece = esc;
    size_t plen;
    if (k && !is_control(u + i, k)) {
      piece = s + i;
      plen = k;
    } else if (k == 1 && (u[i] == '\n' || u[i] == '\r' || u[i] == '\t')) {
      plen = (size_t)snprintf(esc, sizeof(esc), "\\%c",
                              u[i] == '\n'   ? 'n'
                              : u[i] == '\r' ? 'r'
                                             : 't');
    } else { /* an invalid byte, or each byte of a control character */
      k = k ? k : 1;
      plen = 0;
      for (size_t j = 0; j < k; j++)
        plen += (size_t)snprintf(esc + plen, sizeof(esc) - plen, "\\x%02X",
                                 u[i + j]);
    }
    if (o + plen + 4 > size) { /* room for "..." and the NUL */
      memcpy(dst + o, "...", 4);
      return dst;
    }
    memcpy(dst + o, piece, plen);
    o += plen;
    i += k;
  }
  dst[o] = '\0';
  return dst;
}

size_t lf_utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  size_t n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

char *lf_utf8_repair(const char *s, size_t len, size_t *out_len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    size_t k = seq_len(u + i, len - i);
    n += k ? k : 3;
    i += k ? k : 1;
  }
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t k = seq_len(u + i, len - i);
    if (k)
      memcpy(out + o, s + i, k);
    else
      memcpy(out + o, "\xEF\xBF\xBD", 3);
    o += k ? k : 3;
    i += k ? k : 1;
  }
  out[o] = '\0';
  if (out_len)
    *out_len = o;
  return out;
}
