/* Small helpers used across the fleet. */
#ifndef LF_UTIL_H
#define LF_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lf_err.h"

int64_t lf_now_ms(void);       /* wall clock, unix epoch ms */
int64_t lf_monotonic_ms(void); /* for durations and timeouts */
void lf_sleep_ms(int64_t ms);

/* A random UUID v4, e.g. for goal ids. */
#define LF_UUID_LEN 36
void lf_uuid(char out[LF_UUID_LEN + 1]);

/* Lower-case hex SHA-256 of data. */
#define LF_SHA256_HEX_LEN 64
void lf_sha256_hex(const void *data, size_t len,
                   char out[LF_SHA256_HEX_LEN + 1]);

/* Room for need elements of elem bytes in p, whose capacity is *cap
 * (doubled as needed, at least 8): the array, moved perhaps, or NULL on
 * no memory, p then unchanged. */
void *lf_grow(void *p, size_t *cap, size_t need, size_t elem);

/* Reads a whole stream / file (NUL-terminated); errors name it. */
char *lf_read_stream(FILE *f, const char *name, size_t *lenp, char *errstr,
                     size_t errstr_size);
char *lf_read_file(const char *path, size_t *lenp, char *errstr,
                   size_t errstr_size);

#endif
