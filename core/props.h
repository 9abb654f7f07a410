/* The property table (private to config.c and props.c). */
#ifndef LF_PROPS_H
#define LF_PROPS_H

#include <stddef.h>
#include <stdint.h>

typedef enum lf_prop_type {
  LF_PROP_STR,
  LF_PROP_INT,
  LF_PROP_BOOL,
  LF_PROP_ENUM,
} lf_prop_type_t;

typedef struct lf_prop {
  const char *name;
  lf_prop_type_t type;
  const char *def;
  int64_t min, max;  /* LF_PROP_INT */
  const char *enums; /* LF_PROP_ENUM: "a|b|c" */
  int kafka_roles;   /* kafka.* entries: lf_kafka_role_t bits */
  const char *desc;
} lf_prop_t;

extern const lf_prop_t lf_props[];
extern const size_t lf_props_cnt;

#endif
