/* Offline rules: the thin guard's catalog checks and the playbook. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "guard.h"
#include "playbook.h"
#include "support.h"

static char errstr[1024];

static const char *catalog_json =
    "{\"version\":\"t1\",\"actions\":["
    "{\"type\":\"function\",\"function\":{\"name\":\"pay\",\"parameters\":"
    "{\"type\":\"object\",\"properties\":{\"amount\":{\"type\":\"integer\"},"
    "\"to\":{\"type\":\"string\"},\"note\":{\"type\":[\"string\",\"null\"]}},"
    "\"required\":[\"amount\",\"to\"],\"additionalProperties\":false}}},"
    "{\"name\":\"ping\",\"inputSchema\":{\"type\":\"object\"}}]}";

static lf_reasons_t check(const lf_catalog_t *cat, const char *name,
                          const char *args) {
  lf_action_t a = LF_ACTION_INIT;
  lf_reasons_t r = {0};
  a.name = (char *)name;
  a.arguments_json = (char *)args;
  lf_guard_eval_t e;
  a.tenant = "t";
  ck_assert_int_eq(lf_guard_evaluate(cat, &a, &r, &e), LF_OK);
  lf_guard_eval_clear(&e);
  return r;
}

START_TEST(catalog_checks_every_problem) {
  lf_catalog_t *cat =
      lf_catalog_parse(catalog_json, "t.json", errstr, sizeof(errstr));
  ck_assert_msg(cat != NULL, "%s", errstr);
  ck_assert_uint_eq(lf_catalog_count(cat), 2);
  ck_assert_str_eq(lf_catalog_version(cat), "t1");

  lf_reasons_t r =
      check(cat, "pay", "{\"amount\":5,\"to\":\"bob\",\"note\":null}");
  ck_assert_uint_eq(r.n, 0);
  lf_reasons_free(&r);
  r = check(cat, "pay",
            "{\"amount\":5.0,\"to\":\"bob\"}"); /* 5.0 is an integer */
  ck_assert_uint_eq(r.n, 0);
  lf_reasons_free(&r);

  r = check(cat, "transfer", "{}");
  ck_assert_uint_eq(r.n, 1);
  ck_assert_str_eq(r.v[0].code, "unknown_action");
  lf_reasons_free(&r);

  r = check(cat, "pay", "{\"amount\": 5,");
  ck_assert_str_eq(r.v[0].code, "malformed_arguments");
  lf_reasons_free(&r);
  r = check(cat, "pay", "[1]");
  ck_assert_str_eq(r.v[0].code, "malformed_arguments");
  lf_reasons_free(&r);

  /* all problems at once, each with its JSON pointer */
  r = check(cat, "pay", "{\"amount\":\"5\",\"extra/x\":1}");
  ck_assert_uint_eq(r.n, 3);
  int missing = 0, type = 0, extra = 0;
  for (size_t i = 0; i < r.n; i++) {
    missing +=
        !strcmp(r.v[i].code, "missing_required") && !strcmp(r.v[i].path, "/to");
    type +=
        !strcmp(r.v[i].code, "type_error") && !strcmp(r.v[i].path, "/amount");
    extra += !strcmp(r.v[i].code, "unexpected_param") &&
             !strcmp(r.v[i].path, "/extra~1x");
  }
  ck_assert_msg(missing && type && extra, "reasons: %s / %s / %s",
                r.v[0].message, r.v[1].message, r.v[2].message);
  lf_reasons_free(&r);
  lf_catalog_destroy(cat);
}
END_TEST

START_TEST(catalog_load_errors_say_where) {
  ck_assert_ptr_null(
      lf_catalog_parse("{\"actions\":[", "c.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "c.json: line 1, column"), "%s", errstr);
  ck_assert_ptr_null(
      lf_catalog_parse("{\"actions\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
                       "c.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "/actions/1") && strstr(errstr, "twice"), "%s",
                errstr);
  ck_assert_ptr_null(lf_catalog_parse("{\"actions\":[{\"description\":\"x\"}]}",
                                      "c.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "/actions/0"), "%s", errstr);
  ck_assert_ptr_null(
      lf_catalog_load("/nonexistent/catalog.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "/nonexistent/catalog.json"), "%s", errstr);
}
END_TEST

START_TEST(idempotency_key_ignores_key_order) {
  lf_action_t a = LF_ACTION_INIT;
  char k1[128], k2[128], k3[128];
  a.tenant = "t";
  a.name = "pay";
  json_t *x = json_loads("{\"a\":1,\"b\":2}", 0, NULL);
  json_t *y = json_loads("{ \"b\": 2, \"a\": 1 }", 0, NULL);
  lf_guard_idempotency_key(&a, x, k1, sizeof(k1));
  lf_guard_idempotency_key(&a, y, k2, sizeof(k2));
  ck_assert_str_eq(k1, k2);
  /* numbers are normalised: 1.0 is 1, 2e0 is 2, -0.0 is 0 */
  json_t *z = json_loads("{\"b\":2e0,\"a\":1.0}", 0, NULL);
  lf_guard_idempotency_key(&a, z, k2, sizeof(k2));
  ck_assert_str_eq(k1, k2);
  json_decref(z);
  z = json_loads("{\"z\":[-0.0,0.1,1e300],\"a\":{\"d\":1.5,\"c\":\"\u00e9\"}}",
                 0, NULL);
  char *canon = lf_json_canonical(z);
  ck_assert_str_eq(canon,
                   "{\"a\":{\"c\":\"\u00e9\",\"d\":1.5},\"z\":[0,0.1,1e+300]}");
  free(canon);
  json_decref(z);
  a.tenant = "other";
  lf_guard_idempotency_key(&a, x, k3, sizeof(k3));
  ck_assert_str_ne(k1, k3);
  a.idempotency_key = "mine";
  lf_guard_idempotency_key(&a, x, k3, sizeof(k3));
  ck_assert_str_eq(k3, "mine");
  json_decref(x);
  json_decref(y);
}
END_TEST

START_TEST(playbook_match_and_render) {
  const char *pb_json =
      "{\"playbooks\":[{\"name\":\"p\",\"match\":\"^pay ([0-9]+) to (.+)$\","
      "\"steps\":[{\"action\":\"pay\",\"arguments\":{\"to\":\"{{2}}\","
      "\"memo\":[\"{{tenant}}\",\"goal {{goal_id}} step {{step}}\"],\"n\":3},"
      "\"idempotency_key\":\"pay-{{1}}\"}],\"answer\":\"paid {{1}}\"}]}";
  lf_playbook_t *pb =
      lf_playbook_parse(pb_json, "p.json", errstr, sizeof(errstr));
  ck_assert_msg(pb != NULL, "%s", errstr);
  json_t *caps = NULL;
  ck_assert_int_eq(lf_playbook_match(pb, "nothing", &caps), -1);
  int play = lf_playbook_match(pb, "Pay 12 to Bob", &caps);
  ck_assert_int_eq(play, 0);
  lf_play_vars_t v = {.goal_id = "g1",
                      .tenant = "acme",
                      .text = "Pay 12 to Bob",
                      .captures = caps,
                      .step = 0};
  lf_play_step_t s;
  ck_assert_int_eq(lf_playbook_render_step(pb, play, 0, &v, &s), LF_OK);
  ck_assert_str_eq(s.action, "pay");
  ck_assert_str_eq(
      s.arguments_json,
      "{\"to\":\"Bob\",\"memo\":[\"acme\",\"goal g1 step 0\"],\"n\":3}");
  ck_assert_str_eq(s.idempotency_key, "pay-12");
  lf_play_step_clear(&s);
  char *answer = lf_playbook_render_answer(pb, play, &v);
  ck_assert_str_eq(answer, "paid 12");
  free(answer);
  json_decref(caps);
  lf_playbook_destroy(pb);
}
END_TEST

START_TEST(playbook_errors_say_where) {
  ck_assert_ptr_null(
      lf_playbook_parse("{\"playbooks\":[{\"name\":\"p\",\"match\":\"(\","
                        "\"steps\":[]}]}",
                        "p.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "p.json") && strstr(errstr, "bad pattern"), "%s",
                errstr);
  ck_assert_ptr_null(
      lf_playbook_parse("{\"playbooks\":[{\"name\":\"p\",\"match\":\"x\","
                        "\"steps\":[{\"action\":\"a\","
                        "\"arguments\":{\"v\":\"{{nope}}\"}}]}]}",
                        "p.json", errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "{{nope}}") && strstr(errstr, "/steps/0"), "%s",
                errstr);
  ck_assert_ptr_null(lf_playbook_parse("[]", "p.json", errstr, sizeof(errstr)));
}
END_TEST

/* The canonical text is byte for byte what jansson writes (compact, keys
 * sorted) for every value without reals, strings with every control
 * character, quotes, backslashes, NUL and UTF-8 included: signatures made
 * before the canonical writer was rewritten still verify. */
/* The old writer of reals: the fewest of 15..17 digits that read back. */
static void real_reference(double d, char *out, size_t size) {
  if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
    snprintf(out, size, "%lld", (long long)d);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, size, "%.*g", prec, d);
    if (strtod(out, NULL) == d)
      return;
  }
}

static void check_real(double d) {
  char want[64], got[LF_REAL_TEXT_MAX];
  real_reference(d, want, sizeof(want));
  size_t n = lf_json_real_text(d, got);
  ck_assert_msg(!strcmp(got, want) && n == strlen(want), "%.17g: %s, not %s", d,
                got, want);
}

/* Reals are written without printf where they can be, and the text is
 * the same as before, byte for byte (idempotency keys and signatures made
 * earlier must still match). */
START_TEST(reals_are_written_as_before) {
  static const double some[] = {0.1,
                                0.2,
                                0.30000000000000004,
                                123.25,
                                -0.5,
                                1e-4,
                                1.5e-4,
                                9.9999e-5,
                                0.00012,
                                5e-324,
                                1e300,
                                -1e-300,
                                1e15,
                                1e15 + 0.5,
                                999999999999999.9,
                                0.1 + 0.2,
                                2.5e-5,
                                1.0 / 3,
                                12345678.9012345,
                                100.01,
                                3.14159,
                                2.675,
                                1.005,
                                1e21,
                                4.35,
                                0.07};
  for (size_t i = 0; i < sizeof(some) / sizeof(*some); i++) {
    check_real(some[i]);
    check_real(-some[i]);
  }
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200000; i++) { /* decimals, and any bits at all */
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    double m = (double)(x % 1000000000000000ull);
    check_real(m / pow(10.0, (double)((x >> 50) % 22)));
    double any;
    memcpy(&any, &x, sizeof(any));
    if (isfinite(any))
      check_real(any);
  }
}
END_TEST

START_TEST(canonical_text_is_janssons) {
  char text[64];
  json_t *all = json_array();
  for (int c = 0; c < 128; c++) {
    snprintf(text, sizeof(text), "a%cb", c ? c : ' ');
    json_array_append_new(all, c ? json_string(text) : json_stringn("a\0b", 3));
  }
  json_array_append_new(
      all, json_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 / \\\""));
  json_t *obj = json_object();
  for (int c = 1; c < 128; c += 7) {
    snprintf(text, sizeof(text), "k%c%d", c, c);
    json_object_set_new(obj, text, json_integer(c * 1000003LL - 500));
  }
  for (int i = 0; i < 40; i++) { /* more keys than the stack holds */
    snprintf(text, sizeof(text), "key%02d", 39 - i);
    json_object_set_new(obj, text, json_integer(i == 0 ? INT64_MIN : -i));
  }
  json_object_set_new(obj, "nested",
                      json_pack("{s:[b,b,n,{}],s:[]}", "x", 1, 0, "y"));
  json_array_append_new(all, obj);
  json_array_append_new(all, json_integer(INT64_MAX));
  char *ours = lf_json_canonical(all);
  char *theirs =
      json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  ck_assert_ptr_nonnull(ours);
  ck_assert_ptr_nonnull(theirs);
  ck_assert_str_eq(ours, theirs);
  free(ours);
  free(theirs);
  json_decref(all);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rules");
  TCase *tc = tcase_create("rules");
  tcase_add_test(tc, catalog_checks_every_problem);
  tcase_add_test(tc, catalog_load_errors_say_where);
  tcase_add_test(tc, idempotency_key_ignores_key_order);
  tcase_add_test(tc, canonical_text_is_janssons);
  tcase_add_test(tc, reals_are_written_as_before);
  tcase_add_test(tc, playbook_match_and_render);
  tcase_add_test(tc, playbook_errors_say_where);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
