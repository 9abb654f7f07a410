/* Policy conditions: parsing errors with columns, and three-valued
 * evaluation over arguments, context, tenant, action and risk. */
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "support.h"

typedef struct ccase {
  const char *cond, *args;
  int want;
} ccase_t;

static const ccase_t cases[] = {
    {"args.amount > 500", "{\"amount\":501}", LF_COND_TRUE},
    {"args.amount > 500", "{\"amount\":500}", LF_COND_FALSE},
    {"args.amount > 500", "{\"amount\":500.5}", LF_COND_TRUE},
    {"args.amount >= 500 and args.amount <= 500", "{\"amount\":500}",
     LF_COND_TRUE},
    {"args.amount > 500 or args.currency != \"EUR\"",
     "{\"amount\":5,\"currency\":\"USD\"}", LF_COND_TRUE},
    {"args.amount > 500 or args.currency != 'EUR'",
     "{\"amount\":5,\"currency\":\"EUR\"}", LF_COND_FALSE},
    {"args.currency in ['EUR', 'USD']", "{\"currency\":\"USD\"}", LF_COND_TRUE},
    {"args.currency not in ['EUR', 'USD']", "{\"currency\":\"USD\"}",
     LF_COND_FALSE},
    {"args.n in [1, 2]", "{\"n\":2.0}", LF_COND_TRUE},
    {"args.to.iban matches '^DE[0-9]{20}$'",
     "{\"to\":{\"iban\":\"DE89370400440532013000\"}}", LF_COND_TRUE},
    {"not (args.to.iban matches '^DE')", "{\"to\":{\"iban\":\"FR76\"}}",
     LF_COND_TRUE},
    {"args.urgent", "{\"urgent\":true}", LF_COND_TRUE},
    {"args.urgent == null", "{}", LF_COND_TRUE},
    {"args.note != null", "{\"note\":null}", LF_COND_FALSE},
    {"tenant == 'acme' and action == 'pay' and risk == 'high'", "{}",
     LF_COND_TRUE},
    {"context.env == 'prod'", "{}", LF_COND_TRUE},
    {"context.limits.max < 10", "{}", LF_COND_TRUE},
    /* undecidable comparisons are unknown; and/or resolve what they can */
    {"args.amount > 500", "{}", LF_COND_UNKNOWN},
    {"args.amount > 500", "{\"amount\":\"lots\"}", LF_COND_UNKNOWN},
    {"args.amount > 500 and tenant == 'other'", "{}", LF_COND_FALSE},
    {"args.amount > 500 or tenant == 'acme'", "{}", LF_COND_TRUE},
    {"not (args.amount > 500)", "{}", LF_COND_UNKNOWN},
    {"args.urgent", "{\"urgent\":1}", LF_COND_UNKNOWN},
    {"args.big > 9007199254740992", "{\"big\":9007199254740993}", LF_COND_TRUE},
    {"args.s < 'b'", "{\"s\":\"a\"}", LF_COND_TRUE},
    {"true and not false", "{}", LF_COND_TRUE},
};

START_TEST(evaluates) {
  const ccase_t *c = &cases[_i];
  char errstr[256], why[256];
  lf_cond_t *cond = lf_cond_compile(c->cond, errstr, sizeof(errstr));
  ck_assert_msg(cond != NULL, "%s: %s", c->cond, errstr);
  json_t *args = json_loads(c->args, 0, NULL);
  json_t *ctx =
      json_loads("{\"env\":\"prod\",\"limits\":{\"max\":3}}", 0, NULL);
  lf_cond_env_t env = {args, ctx, "acme", "pay", "high"};
  int got = lf_cond_eval(cond, &env, why, sizeof(why));
  ck_assert_msg(got == c->want, "%s over %s: got %d, want %d", c->cond, c->args,
                got, c->want);
  if (got == LF_COND_UNKNOWN)
    ck_assert_msg(*why, "%s: unknown without a why", c->cond);
  json_decref(args);
  json_decref(ctx);
  lf_cond_destroy(cond);
}
END_TEST

static const char *const bad[][2] = {
    {"args.amount >", "column 14: expected a value"},
    {"amount > 5", "column 1: unknown name \"amount\""},
    {"args.amount > 5 or", "column 19:"},
    {"args.to matches '('", "bad pattern"},
    {"args.to matches args.re", "needs a string literal pattern"},
    {"(args.a == 1", "expected \")\""},
    {"args.a == 'x", "string not closed"},
    {"args.a == 1 2", "unexpected \"2\""},
    {"args..a == 1", "bad field"},
    {"tenant.x == 1", "bad field"},
    {"", "column 1: expected a value"},
    {"args.a in [1, ", "expected a value"},
    {"args.a == 1e999", "not a finite number"},
};

START_TEST(errors_name_the_column) {
  char errstr[256];
  lf_cond_t *c = lf_cond_compile(bad[_i][0], errstr, sizeof(errstr));
  ck_assert_msg(c == NULL, "\"%s\" compiled", bad[_i][0]);
  ck_assert_msg(strstr(errstr, bad[_i][1]), "\"%s\": got \"%s\"", bad[_i][0],
                errstr);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cond");
  TCase *tc = tcase_create("cond");
  tcase_add_loop_test(tc, evaluates, 0,
                      (int)(sizeof(cases) / sizeof(cases[0])));
  tcase_add_loop_test(tc, errors_name_the_column, 0,
                      (int)(sizeof(bad) / sizeof(bad[0])));
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
