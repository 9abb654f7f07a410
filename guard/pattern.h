/* One way to run a compiled PCRE2 pattern for every decision: bounded by
 * a match limit, and telling "no match" apart from "could not decide", so
 * that a limit never counts as "no match" (fail closed). */
#ifndef LF_PATTERN_H
#define LF_PATTERN_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

/* Backtracking steps one match may take: ample for a pattern over an
 * argument, far below what would stall a guard (PCRE2's own default is
 * ten million). */
#define LF_REGEX_MATCH_LIMIT 1000000
#define LF_REGEX_DEPTH_LIMIT 10000

enum { LF_REGEX_NOMATCH = 0, LF_REGEX_MATCH = 1, LF_REGEX_LIMIT = -1 };

/* LF_REGEX_MATCH, _NOMATCH, or _LIMIT for any other outcome (match, depth
 * or heap limit, no memory, a bad subject): why then says which. */
int lf_regex_match(const pcre2_code *re, const char *s, size_t len, char *why,
                   size_t why_size);

#endif
