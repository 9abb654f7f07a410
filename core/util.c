#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *lf_err_str(lf_err_t err) {
  switch (err) {
  case LF_OK:
    return "success";
  case LF_ERR_INVALID:
    return "invalid argument";
  case LF_ERR_NOENT:
    return "not found";
  case LF_ERR_NOMEM:
    return "out of memory";
  case LF_ERR_IO:
    return "I/O error";
  case LF_ERR_KAFKA:
    return "Kafka error";
  case LF_ERR_REDIS_CONN:
    return "Redis connection error";
  case LF_ERR_REDIS_REPLY:
    return "Redis error reply";
  case LF_ERR_TIMEOUT:
    return "timed out";
  case LF_ERR_DONE:
    return "done";
  case LF_ERR_RECORD:
    return "bad record";
  }
  return "unknown error";
}

int lf_err_is_infra(lf_err_t err) {
  return err == LF_ERR_KAFKA || err == LF_ERR_REDIS_CONN ||
         err == LF_ERR_REDIS_REPLY || err == LF_ERR_TIMEOUT;
}

static int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lf_now_ms(void) {
  return clock_ms(CLOCK_REALTIME);
}
int64_t lf_monotonic_ms(void) {
  return clock_ms(CLOCK_MONOTONIC);
}

void lf_sleep_ms(int64_t ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

void lf_uuid(char out[LF_UUID_LEN + 1]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) /* ids need uniqueness, not secrecy */
    for (size_t i = 0; i < sizeof(b); i++)
      b[i] = (unsigned char)(rand() & 0xff);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, LF_UUID_LEN + 1,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
           "%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

void lf_sha256_hex(const void *data, size_t len,
                   char out[LF_SHA256_HEX_LEN + 1]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
    memset(md, 0, sizeof(md)); /* only on a broken libcrypto */
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

char *lf_read_stream(FILE *f, const char *name, size_t *lenp, char *errstr,
                     size_t errstr_size) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *grown = realloc(buf, cap);
      if (!grown) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        free(buf);
        return NULL;
      }
      buf = grown;
    }
    size_t n = fread(buf + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0)
      break;
  }
  if (ferror(f)) {
    snprintf(errstr, errstr_size, "%s: read error", name);
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  if (lenp)
    *lenp = len;
  return buf;
}

char *lf_read_file(const char *path, size_t *lenp, char *errstr,
                   size_t errstr_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = lf_read_stream(f, path, lenp, errstr, errstr_size);
  fclose(f);
  return buf;
}

void *lf_grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return p;
  size_t c = *cap ? *cap : 8;
  while (c < need)
    c *= 2;
  if (c > SIZE_MAX / elem)
    return NULL;
  void *grown = realloc(p, c * elem);
  if (grown)
    *cap = c;
  return grown;
}
