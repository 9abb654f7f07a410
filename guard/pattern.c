#include "pattern.h"

#include <pthread.h>
#include <stdio.h>

static pcre2_match_context *g_mctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* One match data per thread, reused by every match: PCRE2 keeps its
 * backtracking frames there (20 KiB at first), which a match data made
 * per match allocated and freed again each time. */
static pthread_key_t g_md_key;
static int g_md_ok;

static void free_md(void *md) {
  pcre2_match_data_free(md);
}

static void make_context(void) {
  g_mctx = pcre2_match_context_create(NULL);
  if (g_mctx) {
    pcre2_set_match_limit(g_mctx, LF_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(g_mctx, LF_REGEX_DEPTH_LIMIT);
  }
  g_md_ok = pthread_key_create(&g_md_key, free_md) == 0;
}

/* This thread's match data (a match only asks whether: one pair). */
static pcre2_match_data *thread_md(void) {
  pcre2_match_data *md = g_md_ok ? pthread_getspecific(g_md_key) : NULL;
  if (md || !g_md_ok)
    return md;
  if ((md = pcre2_match_data_create(1, NULL)) &&
      pthread_setspecific(g_md_key, md)) {
    pcre2_match_data_free(md);
    md = NULL;
  }
  return md;
}

int lf_regex_match(const pcre2_code *re, const char *s, size_t len, char *why,
                   size_t why_size) {
  pthread_once(&g_once, make_context);
  if (!g_mctx) {
    if (why)
      snprintf(why, why_size, "no memory for the regex match context");
    return LF_REGEX_LIMIT;
  }
  pcre2_match_data *md = thread_md();
  if (!md) {
    if (why)
      snprintf(why, why_size, "no memory to match the pattern");
    return LF_REGEX_LIMIT;
  }
  int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, g_mctx);
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
