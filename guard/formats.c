/* The "format" values the validator checks: strict, RFC-shaped, no
 * locale and no network (an email's domain is checked for shape, not
 * looked up). */
#include "formats.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

static const char *const names[LF_FORMAT__CNT] = {
    "date-time", "date", "email", "uri", "uuid", "ipv4", "ipv6"};

int lf_format_id(const char *name) {
  for (int i = 0; i < LF_FORMAT__CNT; i++)
    if (!strcmp(name, names[i]))
      return i;
  return -1;
}

const char *lf_format_name(int id) {
  return id >= 0 && id < LF_FORMAT__CNT ? names[id] : "?";
}

/* n decimal digits at s into *out. */
static int digits(const char *s, int n, int *out) {
  *out = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return 0;
    *out = *out * 10 + (s[i] - '0');
  }
  return 1;
}

/* RFC 3339 full-date: YYYY-MM-DD with real month lengths. */
static int full_date(const char *s, size_t len) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
      !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d) || m < 1 || m > 12 ||
      d < 1 || d > mdays[m - 1])
    return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

/* RFC 3339 date-time: full-date "T" HH:MM:SS[.frac] ("Z" / +-HH:MM). */
static int date_time(const char *s, size_t len) {
  int h, mi, sec, oh, om;
  if (len < 20 || !full_date(s, 10) || (s[10] != 'T' && s[10] != 't'))
    return 0;
  const char *t = s + 11, *end = s + len;
  if (!digits(t, 2, &h) || t[2] != ':' || !digits(t + 3, 2, &mi) ||
      t[5] != ':' || !digits(t + 6, 2, &sec) || h > 23 || mi > 59 || sec > 60)
    return 0;
  t += 8;
  if (t < end && *t == '.') {
    const char *f = ++t;
    while (t < end && isdigit((unsigned char)*t))
      t++;
    if (t == f)
      return 0;
  }
  if (end - t == 1)
    return *t == 'Z' || *t == 'z';
  return end - t == 6 && (*t == '+' || *t == '-') && digits(t + 1, 2, &oh) &&
         t[3] == ':' && digits(t + 4, 2, &om) && oh <= 23 && om <= 59;
}

/* A DNS host name: dot-separated labels of letters, digits and hyphens. */
static int hostname(const char *s, size_t len) {
  size_t label = 0;
  if (!len || len > 253)
    return 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (!label || label > 63 || s[i - 1] == '-')
        return 0;
      label = 0;
    } else if (isalnum((unsigned char)s[i]) || (s[i] == '-' && label)) {
      label++;
    } else {
      return 0;
    }
  }
  return 1;
}

/* addr-spec with a dot-atom local part and a host name domain. */
static int email(const char *s, size_t len) {
  const char *at = memchr(s, '@', len);
  if (!at || at == s || at - s > 64 || s[0] == '.' || at[-1] == '.')
    return 0;
  for (const char *p = s; p < at; p++)
    if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+/=?^_`{|}~.-", *p)) ||
        (*p == '.' && p[1] == '.'))
      return 0;
  return hostname(at + 1, len - (size_t)(at + 1 - s));
}

/* RFC 3986 absolute URI: a scheme, ":", then only URI characters with
 * well-formed percent escapes. */
static int uri(const char *s, size_t len) {
  size_t i = 0;
  if (!len || !isalpha((unsigned char)s[0]))
    return 0;
  while (i < len && (isalnum((unsigned char)s[i]) || strchr("+-.", s[i])))
    i++;
  if (i == len || s[i] != ':')
    return 0;
  for (i++; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
          !isxdigit((unsigned char)s[i + 2]))
        return 0;
      i += 2;
    } else if (!(isalnum(c) || (c && strchr("-._~:/?#[]@!$&'()*+,;=", c)))) {
      return 0;
    }
  }
  return 1;
}

static int uuid(const char *s, size_t len) {
  if (len != 36)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((i == 8 || i == 13 || i == 18 || i == 23)
            ? s[i] != '-'
            : !isxdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

/* Dotted quad without leading zeros (inet_pton's own rule, spelled out). */
static int ipv4(const char *s, size_t len) {
  char buf[16];
  struct in_addr a;
  if (len < 7 || len > 15)
    return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  for (size_t i = 0; i + 1 < len; i++)
    if ((i == 0 || s[i - 1] == '.') && s[i] == '0' &&
        isdigit((unsigned char)s[i + 1]))
      return 0;
  return inet_pton(AF_INET, buf, &a) == 1;
}

static int ipv6(const char *s, size_t len) {
  char buf[46];
  struct in6_addr a;
  if (len < 2 || len > 45)
    return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return inet_pton(AF_INET6, buf, &a) == 1;
}

int lf_format_check(int id, const char *s, size_t len) {
  if (memchr(s, '\0', len))
    return 0; /* "\u0000" inside a string is never a valid formatted value */
  switch (id) {
  case LF_FORMAT_DATE_TIME:
    return date_time(s, len);
  case LF_FORMAT_DATE:
    return full_date(s, len);
  case LF_FORMAT_EMAIL:
    return email(s, len);
  case LF_FORMAT_URI:
    return uri(s, len);
  case LF_FORMAT_UUID:
    return uuid(s, len);
  case LF_FORMAT_IPV4:
    return ipv4(s, len);
  case LF_FORMAT_IPV6:
    return ipv6(s, len);
  default:
    return 0;
  }
}
