/* Text that crosses the fleet's boundaries: UTF-8 checked, identifiers
 * bounded and printable, and untrusted text made safe to log or quote. */
#ifndef LF_TEXT_H
#define LF_TEXT_H

#include <stddef.h>

/* Identifiers (goal and action ids, tenants, idempotency keys, action
 * names, approvers): at most this many bytes, no control characters. */
#define LF_ID_MAX 256

/* Whether s[0..len) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF); if not, *bad (when given) is the offset of the
 * first byte that is not. */
int lf_utf8_valid(const char *s, size_t len, size_t *bad);

/* Whether s[0..len) holds a control character (C0, DEL or C1: what could
 * split a header or a log line). Expects valid UTF-8. */
int lf_text_has_control(const char *s, size_t len);

/* Copies s[0..len) into dst (size > 4) as valid, printable UTF-8: invalid
 * bytes and control characters become \xNN (\n \r \t as such), and text
 * that does not fit is cut at a character boundary, ending in "...".
 * Returns dst. */
char *lf_text_clean(char *dst, size_t size, const char *s, size_t len);

/* The length of the longest prefix of s[0..len) at most max bytes long
 * that ends on a character boundary (s valid UTF-8). */
size_t lf_utf8_cut(const char *s, size_t len, size_t max);

/* A malloc'ed copy of s[0..len) with every byte that is not valid UTF-8
 * replaced by U+FFFD (its length in *out_len when given); NULL when out
 * of memory. For text from outside (an HTTP body) that JSON must carry. */
char *lf_utf8_repair(const char *s, size_t len, size_t *out_len);

#endif
