#include "pattern.h"

#include <pthread.h>
#include <stdio.h>

static pcre2_match_context *g_mctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void make_context(void) {
  g_mctx = pcre2_match_context_create(NULL);
  if (g_mctx) {
    pcre2_set_match_limit(g_mctx, LF_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(g_mctx, LF_REGEX_DEPTH_LIMIT);
  }
}

int lf_regex_match(const pcre2_code *re, const char *s, size_t len, char *why,
                   size_t why_size) {
  pthread_once(&g_once, make_context);
  if (!g_mctx) {
    if (why)
      snprintf(why, why_size, "no memory for the regex match context");
    return LF_REGEX_LIMIT;
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  if (!md) {
    if (why)
      snprintf(why, why_size, "no memory to match the pattern");
    return LF_REGEX_LIMIT;
  }
  int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, g_mctx);
  pcre2_match_data_free(md);
  if (rc >= 0)
    return LF_REGEX_MATCH;
  if (rc == PCRE2_ERROR_NOMATCH)
    return LF_REGEX_NOMATCH;
  if (why) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
      snprintf((char *)msg, sizeof(msg), "error %d", rc);
    snprintf(why, why_size, "the pattern could not be matched: %s",
             (const char *)msg);
  }
  return LF_REGEX_LIMIT;
}
