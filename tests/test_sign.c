/* Signed approvals: sign and verify, what a signature covers, key
 * rotation, and key loading errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sign.h"
#include "support.h"

#define K1 "k1:0123456789abcdef0123456789abcdef"
#define K2 "k2:fedcba9876543210fedcba9876543210"

static lf_keyring_t *ring(const char *keys, const char *signer) {
  char errstr[256];
  lf_conf_t *conf = lf_conf_new();
  ck_assert_int_eq(
      lf_conf_set(conf, "signing.keys", keys, errstr, sizeof(errstr)), LF_OK);
  if (signer)
    ck_assert_int_eq(
        lf_conf_set(conf, "signing.key.id", signer, errstr, sizeof(errstr)),
        LF_OK);
  lf_keyring_t *k = lf_keyring_new(conf, errstr, sizeof(errstr));
  ck_assert_msg(k != NULL, "%s", errstr);
  lf_conf_destroy(conf);
  return k;
}

static void verdict(lf_verdict_t *v, lf_action_t *a, const char *args) {
  lf_verdict_t vi = LF_VERDICT_INIT;
  lf_action_t ai = LF_ACTION_INIT;
  *v = vi;
  *a = ai;
  a->action_id = "g:0";
  a->goal_id = "g";
  a->tenant = "acme";
  a->name = "pay";
  a->arguments_json = (char *)args;
  v->action = a;
  v->decision = LF_DECISION_APPROVED;
  v->idempotency_key = "invoice-1";
  v->catalog_version = "c1";
  v->expires_at_ms = 1893456000000;
}

START_TEST(sign_and_verify) {
  char errstr[256];
  uint8_t sig[LF_SIGNATURE_LEN];
  lf_keyring_t *k = ring(K1 "," K2, "k2");
  lf_verdict_t v;
  lf_action_t a;
  verdict(&v, &a, "{\"amount\":10,\"to\":\"bob\"}");
  ck_assert_int_eq(lf_verdict_sign(k, &v, NULL, sig, errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_str_eq(v.signature_key_id, "k2");
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)), LF_OK);
  /* the same arguments written differently are the same action */
  a.arguments_json = "{ \"to\": \"bob\", \"amount\": 10.0 }";
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)), LF_OK);
  /* every covered field matters */
  a.arguments_json = "{\"amount\":11,\"to\":\"bob\"}";
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_msg(strstr(errstr, "does not match"), "%s", errstr);
  a.arguments_json = "{\"amount\":10,\"to\":\"bob\"}";
  a.tenant = "other";
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  a.tenant = "acme";
  v.expires_at_ms++;
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  v.expires_at_ms--;
  v.catalog_version = "c2";
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  v.catalog_version = "c1";
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)), LF_OK);
  /* rotation: a verifier that only knows k1 cannot accept k2's signature */
  lf_keyring_t *old = ring(K1, NULL);
  ck_assert_int_eq(lf_verdict_verify(old, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_msg(strstr(errstr, "unknown key \"k2\""), "%s", errstr);
  /* unsigned */
  v.signature.len = 0;
  ck_assert_int_eq(lf_verdict_verify(k, &v, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_msg(strstr(errstr, "not signed"), "%s", errstr);
  lf_keyring_destroy(old);
  lf_keyring_destroy(k);
}
END_TEST

/* An observation's signature covers every field a planner acts on: any
 * change to one of them breaks it. */
START_TEST(observations_are_signed_over_their_fields) {
  char errstr[256];
  lf_conf_t *conf = lf_conf_new();
  ck_assert_int_eq(lf_conf_set(conf, "observation.keys",
                               "o1:0123456789abcdef0123456789abcdef0123",
                               errstr, sizeof(errstr)),
                   LF_OK);
  lf_keyring_t *k =
      lf_keyring_load(conf, "observation", errstr, sizeof(errstr));
  ck_assert_msg(k != NULL, "%s", errstr);
  lf_reason_t r = LF_REASON_INIT, *rs[] = {&r};
  r.code = "value_error";
  r.path = "/amount";
  r.message = "too much";
  lf_observation_t o = LF_OBSERVATION_INIT;
  o.goal_id = "g1";
  o.action_id = "g1:0";
  o.status = LF_OBS_REJECTED;
  o.result_json = "{\"a\":1}";
  o.error = "rejected";
  o.n_reasons = 1;
  o.reasons = rs;
  o.observer = "guard-1";
  o.observed_at_ms = 1234;
  uint8_t sig[LF_SIGNATURE_LEN];
  ck_assert_int_eq(lf_observation_sign(k, &o, sig, errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_str_eq(o.signature_key_id, "o1");
  ck_assert_int_eq(lf_observation_verify(k, &o, errstr, sizeof(errstr)), LF_OK);
  /* each field changed in turn */
  lf_observation_t t = o;
  t.status = LF_OBS_SUCCEEDED;
  ck_assert_int_ne(lf_observation_verify(k, &t, errstr, sizeof(errstr)), LF_OK);
  ck_assert_str_eq(errstr, "signature does not match (key \"o1\")");
  t = o;
  t.result_json = "{\"a\":2}";
  ck_assert_int_ne(lf_observation_verify(k, &t, errstr, sizeof(errstr)), LF_OK);
  t = o;
  t.action_id = "g1:1";
  ck_assert_int_ne(lf_observation_verify(k, &t, errstr, sizeof(errstr)), LF_OK);
  t = o;
  t.observed_at_ms = 1235;
  ck_assert_int_ne(lf_observation_verify(k, &t, errstr, sizeof(errstr)), LF_OK);
  r.message = "fine";
  ck_assert_int_ne(lf_observation_verify(k, &o, errstr, sizeof(errstr)), LF_OK);
  r.message = "too much";
  t = o;
  t.signature.len = 0;
  ck_assert_int_ne(lf_observation_verify(k, &t, errstr, sizeof(errstr)), LF_OK);
  ck_assert_str_eq(errstr, "not signed");
  lf_keyring_destroy(k);
  lf_conf_destroy(conf);
}
END_TEST

START_TEST(key_loading_errors) {
  char errstr[256], path[] = "/tmp/lf-keys-XXXXXX";
  lf_conf_t *conf = lf_conf_new();
  ck_assert_ptr_null(lf_keyring_new(conf, errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "no signing key"), "%s", errstr);
  lf_conf_set(conf, "signing.keys", "short:abc", errstr, sizeof(errstr));
  ck_assert_ptr_null(lf_keyring_new(conf, errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "at least 32"), "%s", errstr);
  lf_conf_set(conf, "signing.keys", K1 "," K1, errstr, sizeof(errstr));
  ck_assert_ptr_null(lf_keyring_new(conf, errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "twice"), "%s", errstr);
  /* a file with comments and blank lines; the signer must be loaded */
  int fd = mkstemp(path);
  const char *text = "# rotation: k2 is new\n" K1 "\n\n" K2 "\n";
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  lf_conf_set(conf, "signing.keys", "", errstr, sizeof(errstr));
  lf_conf_set(conf, "signing.keys.file", path, errstr, sizeof(errstr));
  lf_conf_set(conf, "signing.key.id", "k3", errstr, sizeof(errstr));
  ck_assert_ptr_null(lf_keyring_new(conf, errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "no key \"k3\""), "%s", errstr);
  lf_conf_set(conf, "signing.key.id", "k2", errstr, sizeof(errstr));
  lf_keyring_t *k = lf_keyring_new(conf, errstr, sizeof(errstr));
  ck_assert_msg(k != NULL, "%s", errstr);
  ck_assert_str_eq(lf_keyring_signer(k), "k2");
  lf_keyring_destroy(k);
  unlink(path);
  lf_conf_destroy(conf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sign");
  TCase *tc = tcase_create("sign");
  tcase_add_test(tc, sign_and_verify);
  tcase_add_test(tc, key_loading_errors);
  tcase_add_test(tc, observations_are_signed_over_their_fields);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
