/* JSON Schema "format" checkers. */
#ifndef LF_FORMATS_H
#define LF_FORMATS_H

#include <stddef.h>

enum {
  LF_FORMAT_DATE_TIME,
  LF_FORMAT_DATE,
  LF_FORMAT_EMAIL,
  LF_FORMAT_URI,
  LF_FORMAT_UUID,
  LF_FORMAT_IPV4,
  LF_FORMAT_IPV6,
  LF_FORMAT__CNT
};

/* -1 for a format the validator does not check. */
int lf_format_id(const char *name);
const char *lf_format_name(int id);
/* 1 when the len bytes at s are a valid value of format id. */
int lf_format_check(int id, const char *s, size_t len);

#endif
