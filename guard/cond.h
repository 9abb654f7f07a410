/* Policy conditions: small expressions over an action, compiled at catalog
 * load.
 *
 *   args.amount > 500 or args.currency != "EUR"
 *   tenant in ["acme", "globex"] and not (args.to matches "@example\\.com$")
 *   risk == "high" and context.env == "prod"
 *
 * Operands: args.PATH, context.PATH, tenant, action, risk; numbers,
 * strings ('...' or "..."), true, false, null and [lists] of them.
 * Operators: == != < <= > >= in, not in, matches (a PCRE2 regex literal),
 * and, or, not, parentheses. A missing field is null.
 *
 * Evaluation is three-valued: an ordered comparison of values that cannot
 * be ordered (a string with a number, anything with a missing field) is
 * "unknown", which "and"/"or" resolve where they can (false and unknown is
 * false). The guard treats an unknown outcome as true: a deny condition
 * that cannot be decided denies, an approval condition asks a human. */
#ifndef LF_COND_H
#define LF_COND_H

#include <jansson.h>
#include <stddef.h>

typedef struct lf_cond lf_cond_t;

/* What a condition is evaluated over. */
typedef struct lf_cond_env {
  const json_t *args;    /* the parsed arguments */
  const json_t *context; /* the goal's context object, or NULL */
  const char *tenant, *action, *risk;
} lf_cond_env_t;

/* LF_COND_LIMIT: a limit was hit while evaluating (a regex's match limit,
 * no memory). It is neither true nor false, and "and"/"or"/"not" never
 * resolve it: the guard rejects the action (limit_exceeded). */
enum {
  LF_COND_FALSE = 0,
  LF_COND_TRUE = 1,
  LF_COND_UNKNOWN = -1,
  LF_COND_LIMIT = -2
};

/* NULL with errstr ("column N: ...") when text is not a valid condition. */
lf_cond_t *lf_cond_compile(const char *text, char *errstr, size_t errstr_size);
void lf_cond_destroy(lf_cond_t *c);
const char *lf_cond_text(const lf_cond_t *c);

/* LF_COND_TRUE, _FALSE, _UNKNOWN or _LIMIT; for the last two, why (if
 * given) says what could not be decided. */
int lf_cond_eval(const lf_cond_t *c, const lf_cond_env_t *env, char *why,
                 size_t why_size);

#endif
