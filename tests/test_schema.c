/* The compiled JSON Schema validator, keyword by keyword, with the edge
 * cases: integer vs number, unicode lengths, big integers, nested and
 * recursive $ref, oneOf with two matches, every error reported at once. */
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "support.h"

/* Test JSON is written with single quotes: turn them into double ones. */
static json_t *J(const char *text) {
  char *s = strdup(text);
  ck_assert_ptr_nonnull(s);
  for (char *p = s; *p; p++)
    if (*p == '\'')
      *p = '"';
  json_error_t e;
  json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
  ck_assert_msg(v != NULL, "bad test JSON %s: %s", s, e.text);
  free(s);
  return v;
}

typedef struct vcase {
  const char *schema, *value;
  const char *code; /* NULL: valid */
  const char *path; /* of the first reason */
  const char *text; /* in the first reason's message, if given */
} vcase_t;

static const vcase_t cases[] = {
    /* type */
    {"{'type':'integer'}", "1", NULL, NULL, NULL},
    {"{'type':'integer'}", "1.0", NULL, NULL, NULL},
    {"{'type':'integer'}", "1.5", "type_error", "",
     "expected integer, got number"},
    {"{'type':'integer'}", "'1'", "type_error", "", "got string"},
    {"{'type':'number'}", "1", NULL, NULL, NULL},
    {"{'type':['string','null']}", "null", NULL, NULL, NULL},
    {"{'type':['string','null']}", "3", "type_error", "",
     "expected null or string"},
    {"{'type':'boolean'}", "false", NULL, NULL, NULL},
    {"{'type':'array'}", "{}", "type_error", "", "got object"},
    /* objects */
    {"{'properties':{'a':{'properties':{'b':{'type':'string'}}}}}",
     "{'a':{'b':1}}", "type_error", "/a/b", "/a/b: expected string"},
    {"{'properties':{'x':{}},'required':['x']}", "{}", "missing_required", "/x",
     "required argument \"x\" is missing"},
    {"{'properties':{'x':{}}}", "{'x':1,'z':2}", "unexpected_param", "/z",
     NULL},
    {"{'properties':{'x':{}},'additionalProperties':true}", "{'z':2}", NULL,
     NULL, NULL},
    {"{'properties':{},'additionalProperties':{'type':'integer'}}", "{'z':'s'}",
     "type_error", "/z", NULL},
    {"{'properties':{'a/b':{'type':'integer'}}}", "{'a/b':'s'}", "type_error",
     "/a~1b", NULL},
    {"{'minProperties':1}", "{}", "value_error", "", "fewer than 1"},
    {"{'maxProperties':1}", "{'a':1,'b':2}", "value_error", "", "more than 1"},
    /* enum, const */
    {"{'enum':['EUR','USD']}", "'GBP'", "value_error", "",
     "\"GBP\" is not one of [\"EUR\",\"USD\"]"},
    {"{'enum':[1]}", "1.0", NULL, NULL, NULL},
    {"{'const':{'a':[1]}}", "{'a':[1]}", NULL, NULL, NULL},
    {"{'const':'x'}", "'y'", "value_error", "", "must be \"x\""},
    /* numbers */
    {"{'properties':{'amount':{'maximum':1000}}}", "{'amount':2500}",
     "value_error", "/amount",
     "/amount: 2500 is greater than the maximum 1000"},
    {"{'minimum':0.5}", "0", "value_error", "", "less than the minimum 0.5"},
    {"{'minimum':0.5}", "1", NULL, NULL, NULL},
    {"{'exclusiveMinimum':0}", "0", "value_error", "", "greater than 0"},
    {"{'exclusiveMinimum':0}", "0.0001", NULL, NULL, NULL},
    {"{'exclusiveMaximum':10}", "10", "value_error", "", "less than 10"},
    {"{'multipleOf':0.01}", "19.99", NULL, NULL, NULL},
    {"{'multipleOf':0.01}", "19.999", "value_error", "", "not a multiple of"},
    {"{'multipleOf':5}", "11", "value_error", "", NULL},
    {"{'multipleOf':5}", "-10", NULL, NULL, NULL},
    /* beyond 2^53: compared exactly, never through a double */
    {"{'maximum':9007199254740993}", "9007199254740993", NULL, NULL, NULL},
    {"{'maximum':9007199254740993}", "9007199254740994", "value_error", "",
     "9007199254740994 is greater than the maximum 9007199254740993"},
    {"{'maximum':9007199254740992.0}", "9007199254740993", "value_error", "",
     NULL},
    {"{'minimum':-9223372036854775808}", "-9223372036854775808", NULL, NULL,
     NULL},
    {"{'maximum':1e300}", "9223372036854775807", NULL, NULL, NULL},
    /* strings: lengths in characters */
    {"{'maxLength':3}", "'h\\u00e9\\u00e9'", NULL, NULL, NULL},
    {"{'maxLength':3}", "'\\u00e9\\u00e9\\u00e9\\u00e9'", "value_error", "",
     "4 characters long"},
    {"{'minLength':2}", "'\\ud83d\\ude00'", "value_error", "", NULL},
    {"{'pattern':'^[A-Z]{3}$'}", "'EUR'", NULL, NULL, NULL},
    {"{'pattern':'^[A-Z]{3}$'}", "'eur'", "value_error", "",
     "does not match the pattern ^[A-Z]{3}$"},
    {"{'pattern':'\\\\d'}", "'a1'", NULL, NULL, NULL}, /* unanchored search */
    {"{'pattern':'^.{2}$'}", "'\\u00e9\\u00e9'", NULL, NULL, NULL},
    /* formats */
    {"{'format':'date-time'}", "'2026-11-25T10:00:00Z'", NULL, NULL, NULL},
    {"{'format':'date-time'}", "'2026-11-25T10:00:00.5+01:00'", NULL, NULL,
     NULL},
    {"{'format':'date-time'}", "'2026-02-30T10:00:00Z'", "value_error", "",
     "not a valid date-time"},
    {"{'format':'date-time'}", "'2026-11-25 10:00'", "value_error", "", NULL},
    {"{'format':'date'}", "'2024-02-29'", NULL, NULL, NULL},
    {"{'format':'date'}", "'2023-02-29'", "value_error", "", NULL},
    {"{'format':'email'}", "'a.b+c@example.com'", NULL, NULL, NULL},
    {"{'format':'email'}", "'a..b@example.com'", "value_error", "", NULL},
    {"{'format':'email'}", "'@example.com'", "value_error", "", NULL},
    {"{'format':'email'}", "'a@-x.com'", "value_error", "", NULL},
    {"{'format':'uri'}", "'https://example.com/a?b=c#d'", NULL, NULL, NULL},
    {"{'format':'uri'}", "'example.com/a'", "value_error", "", NULL},
    {"{'format':'uri'}", "'http://x/%zz'", "value_error", "", NULL},
    {"{'format':'uri'}", "'http://x/a b'", "value_error", "", NULL},
    {"{'format':'uuid'}", "'0b0a3f5e-8c3d-4d7e-9f3a-1b2c3d4e5f60'", NULL, NULL,
     NULL},
    {"{'format':'uuid'}", "'0b0a3f5e8c3d4d7e9f3a1b2c3d4e5f60'", "value_error",
     "", NULL},
    {"{'format':'ipv4'}", "'192.168.0.1'", NULL, NULL, NULL},
    {"{'format':'ipv4'}", "'256.1.1.1'", "value_error", "", NULL},
    {"{'format':'ipv4'}", "'01.1.1.1'", "value_error", "", NULL},
    {"{'format':'ipv6'}", "'::1'", NULL, NULL, NULL},
    {"{'format':'ipv6'}", "'2001:db8::8a2e:370:7334'", NULL, NULL, NULL},
    {"{'format':'ipv6'}", "'1:::2'", "value_error", "", NULL},
    {"{'format':'ipv4'}", "3", NULL, NULL, NULL}, /* formats speak of strings */
    /* arrays */
    {"{'prefixItems':[{'type':'string'}],'items':{'type':'integer'}}",
     "['a',1,2]", NULL, NULL, NULL},
    {"{'prefixItems':[{'type':'string'}],'items':{'type':'integer'}}",
     "['a','b']", "type_error", "/1", NULL},
    {"{'minItems':2}", "[1]", "value_error", "", "fewer than 2"},
    {"{'maxItems':1}", "[1,2]", "value_error", "", "more than 1"},
    {"{'uniqueItems':true}", "[1,2,1.0]", "value_error", "/2",
     "repeats item 0"},
    {"{'uniqueItems':true}", "[{'a':1},{'a':2}]", NULL, NULL, NULL},
    /* combinators */
    {"{'anyOf':[{'type':'string'},{'minimum':5}]}", "7", NULL, NULL, NULL},
    {"{'anyOf':[{'type':'string'},{'minimum':5}]}", "3", "value_error", "",
     "matches none of the 2 allowed forms (the first says: : expected string"},
    {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "-1", NULL, NULL, NULL},
    {"{'oneOf':[{'type':'integer'},{'minimum':0}]}", "3", "value_error", "",
     "matches 2 of the oneOf forms"},
    {"{'allOf':[{'minimum':5},{'multipleOf':2}]}", "3", "value_error", "",
     "less than the minimum 5"},
    {"{'not':{'const':'root'}}", "'root'", "value_error", "", "not allowed"},
    {"false", "1", "value_error", "", "no value is allowed"},
    {"{'properties':{'a':true,'b':false}}", "{'a':1,'b':2}", "value_error",
     "/b", NULL},
    /* references */
    {"{'$defs':{'pos':{'type':'integer','minimum':1},"
     "'pair':{'type':'array','items':{'$ref':'#/$defs/pos'}}},"
     "'properties':{'p':{'$ref':'#/$defs/pair'}}}",
     "{'p':[1,0]}", "value_error", "/p/1", "less than the minimum 1"},
    {"{'definitions':{'s':{'type':'string'}},'items':{'$ref':'#/definitions/"
     "s'}}",
     "['a',2]", "type_error", "/1", NULL},
    {"{'$defs':{'node':{'type':'object','properties':{'v':{'type':'integer'},"
     "'kids':{'type':'array','items':{'$ref':'#/$defs/node'}}}}},"
     "'$ref':'#/$defs/node'}",
     "{'v':1,'kids':[{'v':2,'kids':[{'v':'x'}]}]}", "type_error",
     "/kids/0/kids/0/v", NULL},
    {"{'$ref':'#'}", "1", "limit_exceeded", "", "nested deeper than"},
};

static void run_case(size_t i) {
  const vcase_t *c = &cases[i];
  char errstr[512];
  json_t *schema = J(c->schema), *value = J(c->value);
  lf_schema_opts_t opts = {.strict = 1};
  lf_schema_t *s = lf_schema_compile(schema, &opts, errstr, sizeof(errstr));
  ck_assert_msg(s != NULL, "case %zu: %s: %s", i, c->schema, errstr);
  lf_reasons_t r = {0};
  ck_assert_int_eq(lf_schema_validate(s, value, "", &r), LF_OK);
  if (!c->code) {
    ck_assert_msg(r.n == 0, "case %zu: %s against %s: unexpected %s", i,
                  c->value, c->schema, r.n ? r.v[0].message : "");
  } else {
    ck_assert_msg(r.n > 0, "case %zu: %s against %s: accepted", i, c->value,
                  c->schema);
    ck_assert_msg(!strcmp(r.v[0].code, c->code) &&
                      !strcmp(r.v[0].path, c->path),
                  "case %zu: %s against %s: got %s at \"%s\" (%s)", i, c->value,
                  c->schema, r.v[0].code, r.v[0].path, r.v[0].message);
    ck_assert_msg(!c->text || strstr(r.v[0].message, c->text),
                  "case %zu: message \"%s\" lacks \"%s\"", i, r.v[0].message,
                  c->text);
  }
  lf_reasons_free(&r);
  lf_schema_destroy(s);
  json_decref(schema);
  json_decref(value);
}

START_TEST(keyword_cases) {
  run_case((size_t)_i);
}
END_TEST

START_TEST(every_problem_at_once) {
  char errstr[512];
  json_t *schema =
      J("{'type':'object','properties':{'amount':{'type':'integer',"
        "'maximum':1000},'currency':{'enum':['EUR']},"
        "'to':{'type':'string','format':'email'}},"
        "'required':['amount','currency','to']}");
  json_t *v = J("{'amount':2500,'currency':'GBP','memo':'x'}");
  lf_schema_opts_t opts = {.strict = 1};
  lf_schema_t *s = lf_schema_compile(schema, &opts, errstr, sizeof(errstr));
  ck_assert_msg(s != NULL, "%s", errstr);
  lf_reasons_t r = {0};
  ck_assert_int_eq(lf_schema_validate(s, v, "", &r), LF_OK);
  ck_assert_uint_eq(r.n, 4);
  const char *want[][2] = {{"missing_required", "/to"},
                           {"value_error", "/amount"},
                           {"value_error", "/currency"},
                           {"unexpected_param", "/memo"}};
  for (size_t i = 0; i < 4; i++) {
    int found = 0;
    for (size_t k = 0; k < r.n; k++)
      found |=
          !strcmp(r.v[k].code, want[i][0]) && !strcmp(r.v[k].path, want[i][1]);
    ck_assert_msg(found, "no %s at %s", want[i][0], want[i][1]);
  }
  lf_reasons_free(&r);
  lf_schema_destroy(s);
  /* not strict: unknown properties pass */
  opts.strict = 0;
  s = lf_schema_compile(schema, &opts, errstr, sizeof(errstr));
  json_t *ok = J("{'amount':5,'currency':'EUR','to':'a@b.c','memo':'x'}");
  ck_assert_int_eq(lf_schema_validate(s, ok, "", &r), LF_OK);
  ck_assert_uint_eq(r.n, 0);
  lf_schema_destroy(s);
  json_decref(ok);
  json_decref(v);
  json_decref(schema);
}
END_TEST

static const char *const bad_schemas[][2] = {
    {"{'patternProperties':{'x':{}}}",
     "/patternProperties: keyword \"patternProperties\" is not supported"},
    {"{'properties':{'a':{'if':{}}}}", "/properties/a/if:"},
    {"{'pattern':'('}", "/pattern: bad regular expression"},
    {"{'format':'hostname'}", "/format: format hostname is not checked"},
    {"{'$ref':'#/$defs/none'}",
     "/$ref: reference \"#/$defs/none\" points at nothing"},
    {"{'$ref':'other.json#/x'}", "only local references"},
    {"{'type':'int'}", "/type: unknown type \"int\""},
    {"{'minLength':-1}", "/minLength: must be a non-negative integer"},
    {"{'multipleOf':0}", "/multipleOf:"},
    {"{'required':['a','a']}", "\"a\" is listed twice"},
    {"{'$defs':{'x':{'maximum':'ten'}}}", "/$defs/x/maximum: must be a number"},
    {"{'anyOf':[]}", "/anyOf: \"anyOf\" must be a non-empty array"},
    {"{'items':3}", "/items: a schema must be an object or a boolean"},
};

START_TEST(compile_errors_name_the_keyword) {
  char errstr[512];
  json_t *schema = J(bad_schemas[_i][0]);
  lf_schema_t *s = lf_schema_compile(schema, NULL, errstr, sizeof(errstr));
  ck_assert_msg(s == NULL, "%s compiled", bad_schemas[_i][0]);
  ck_assert_msg(strstr(errstr, bad_schemas[_i][1]), "%s: got \"%s\"",
                bad_schemas[_i][0], errstr);
  json_decref(schema);
}
END_TEST

START_TEST(utf8_length_counts_code_points) {
  ck_assert_uint_eq(lf_utf8_length("abc", 3), 3);
  ck_assert_uint_eq(lf_utf8_length("h\xc3\xa9", 3), 2);
  ck_assert_uint_eq(lf_utf8_length("\xf0\x9f\x98\x80", 4), 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("schema");
  TCase *tc = tcase_create("schema");
  tcase_add_loop_test(tc, keyword_cases, 0,
                      (int)(sizeof(cases) / sizeof(cases[0])));
  tcase_add_test(tc, every_problem_at_once);
  tcase_add_loop_test(tc, compile_errors_name_the_keyword, 0,
                      (int)(sizeof(bad_schemas) / sizeof(bad_schemas[0])));
  tcase_add_test(tc, utf8_length_counts_code_points);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
