/* W3C trace context (traceparent header) so one goal's records can be
 * followed across every hop by standard tracing tools. */
#include "lf_proto.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(char *out, const unsigned char *b, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
}

/* Trace ids need uniqueness, not secrecy: splitmix64 per thread, seeded
 * once from RAND_bytes (RAND_bytes per id was a visible part of a guard's
 * time per record). */
static uint64_t next_random(void) {
  static _Thread_local uint64_t state;
  static _Thread_local int seeded;
  if (!seeded) {
    if (RAND_bytes((unsigned char *)&state, sizeof(state)) != 1)
      state = (uint64_t)rand() << 32 ^ (uint64_t)rand() ^ (uint64_t)&state;
    seeded = 1;
  }
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void random_bytes(unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t r = next_random();
    memcpy(b + i, &r, n - i < 8 ? n - i : 8);
  }
  b[0] |= 1; /* an all-zero id is invalid */
}

int lf_trace_valid(const char *tp, size_t len) {
  if (!tp || len != LF_TRACEPARENT_LEN || memcmp(tp, "00-", 3) ||
      tp[35] != '-' || tp[52] != '-')
    return 0;
  for (size_t i = 3; i < len; i++) {
    if (i == 35 || i == 52)
      continue;
    if (!isxdigit((unsigned char)tp[i]) || isupper((unsigned char)tp[i]))
      return 0;
  }
  return 1;
}

void lf_trace_new(char out[LF_TRACEPARENT_LEN + 1]) {
  lf_trace_child(NULL, 0, out);
}

void lf_trace_child(const char *parent, size_t parent_len,
                    char out[LF_TRACEPARENT_LEN + 1]) {
  unsigned char span[8], trace[16];
  memcpy(out, "00-", 3);
  if (lf_trace_valid(parent, parent_len)) {
    memcpy(out + 3, parent + 3, 32);
  } else {
    random_bytes(trace, sizeof(trace));
    hex(out + 3, trace, sizeof(trace));
  }
  random_bytes(span, sizeof(span));
  out[35] = '-';
  hex(out + 36, span, sizeof(span));
  memcpy(out + 52, "-01", 4);
}
