/* The compiled form of a JSON Schema, shared by the compiler (schema.c)
 * and the validator (schema_validate.c). */
#ifndef LF_SCHEMA_IMPL_H
#define LF_SCHEMA_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "schema.h"

enum {
  LF_T_NULL = 1 << 0,
  LF_T_BOOLEAN = 1 << 1,
  LF_T_OBJECT = 1 << 2,
  LF_T_ARRAY = 1 << 3,
  LF_T_STRING = 1 << 4,
  LF_T_NUMBER = 1 << 5,
  LF_T_INTEGER = 1 << 6,
};

typedef struct lf_snode lf_snode_t;

typedef struct lf_sprop {
  const char *name; /* points into the kept schema */
  lf_snode_t *schema;
} lf_sprop_t;

typedef struct lf_slist {
  lf_snode_t **v;
  size_t n;
} lf_slist_t;

struct lf_snode {
  int boolean;    /* -1 a schema object; 0 / 1 the schemas false / true */
  unsigned types; /* 0: any type */
  const json_t *enum_v, *const_v;
  const json_t *minimum, *maximum, *xminimum, *xmaximum, *multiple_of;
  json_int_t min_length, max_length, min_items, max_items, min_props,
      max_props; /* -1: absent */
  pcre2_code *pattern;
  const char *pattern_src;
  int format; /* -1: none */
  lf_sprop_t *props;
  size_t nprops;
  const char **required;
  size_t nrequired;
  int additional; /* 1 allowed, 0 forbidden, 2 checked by additional_schema */
  lf_snode_t *additional_schema;
  lf_snode_t *items;
  lf_slist_t prefix_items, all_of, any_of, one_of;
  int unique_items;
  lf_snode_t *not_;
  lf_snode_t *ref;
};

struct lf_schema {
  json_t *root; /* kept: nodes point at its strings and numbers */
  lf_snode_t *top;
  lf_snode_t **nodes; /* every node, for destroy */
  size_t nnodes, nodes_cap;
  struct lf_sref {
    char *pointer;
    lf_snode_t *node;
  } * refs;
  size_t nrefs, refs_cap;
  lf_schema_opts_t opts;
};

/* -1, 0, 1 as a < b, a == b, a > b; exact for integers of any size and for
 * an integer against a real. */
int lf_json_num_cmp(const json_t *a, const json_t *b);
/* JSON equality where 1 and 1.0 are the same number. */
int lf_json_equal(const json_t *a, const json_t *b);

#endif
