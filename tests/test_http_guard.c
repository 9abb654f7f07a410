/* The executor's HTTP safety: URL templates rendered from arguments that
 * cannot move the request, the binding's allowlist, and the address check
 * made on what libcurl actually connects to (every spelling of loopback,
 * private and metadata addresses, and redirects to them). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "llm_server.h"
#include "netguard.h"
#include "support.h"
#include "url.h"

static char *render(const char *tmpl, const char *args_json, char *errstr,
                    size_t size) {
  json_t *args = json_loads(args_json, 0, NULL);
  ck_assert_ptr_nonnull(args);
  char *url = lf_url_render(tmpl, args, errstr, size);
  json_decref(args);
  return url;
}

START_TEST(url_templates) {
  char errstr[256];
  char *u = render("https://api.example.com/v1/invoices/{id}/pay?note={note}",
                   "{\"id\":\"INV/../1\",\"note\":\"a b&c=d\"}", errstr,
                   sizeof(errstr));
  ck_assert_str_eq(u, "https://api.example.com/v1/invoices/INV%2F..%2F1/"
                      "pay?note=a%20b%26c%3Dd");
  free(u);
  u = render("http://h/files/{name}/{n}/{ok}",
             "{\"name\":\"..\",\"n\":42,\"ok\":true}", errstr, sizeof(errstr));
  ck_assert_str_eq(u, "http://h/files/%2E%2E/42/true");
  free(u);
  u = render("http://h/no/placeholders", "{}", errstr, sizeof(errstr));
  ck_assert_str_eq(u, "http://h/no/placeholders");
  free(u);

  static const struct {
    const char *tmpl, *args, *why;
  } bad[] = {
      {"http://h/{id}", "{}", "argument \"id\" is missing"},
      {"http://h/{id}", "{\"id\":{\"a\":1}}", "not a string, number"},
      {"https://{host}/x", "{\"host\":\"evil\"}", "scheme, host or port"},
      {"https://api.example.com:{port}/x", "{\"port\":1}",
       "scheme, host or port"},
      {"https://user{u}@api.example.com/x", "{\"u\":1}",
       "scheme, host or port"},
      {"http://h/{id", "{\"id\":1}", "not closed"},
      {"http://h/id}", "{}", "unpaired brace at column 12"},
      {"ftp://h/{id}", "{\"id\":1}", "only http:// and https://"},
      {"file:///etc/passwd", "{}", "only http:// and https://"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errstr[0] = '\0';
    u = render(bad[i].tmpl, bad[i].args, errstr, sizeof(errstr));
    ck_assert_msg(!u && strstr(errstr, bad[i].why), "%s: %s", bad[i].tmpl,
                  u ? u : errstr);
  }
}
END_TEST

static void body_is(const char *tmpl_json, const char *args_json,
                    const char *want_json) {
  char errstr[256];
  json_t *tmpl = json_loads(tmpl_json, JSON_DECODE_ANY, NULL);
  json_t *args = json_loads(args_json, 0, NULL);
  json_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
  ck_assert(tmpl && args && want);
  json_t *got = lf_http_body_render(tmpl, args, errstr, sizeof(errstr));
  char *text = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  ck_assert_msg(got && json_equal(got, want), "%s -> %s", tmpl_json,
                text ? text : errstr);
  free(text);
  json_decref(got);
  json_decref(want);
  json_decref(args);
  json_decref(tmpl);
}

/* Arguments become values in the template's places, whatever they
 * contain: never keys, never structure. */
START_TEST(body_templates) {
  const char *args = "{\"invoice_id\":\"INV-1\",\"amount\":12.5,"
                     "\"tags\":[\"a\",\"b\"],\"evil\":\"\\\", "
                     "\\\"admin\\\": true\"}";
  body_is("{\"amount\":{\"value\":\"{amount}\",\"currency\":\"EUR\"},"
          "\"note\":\"invoice {invoice_id} of {amount}\",\"tags\":\"{tags}\","
          "\"opt\":\"{missing}\",\"list\":[\"{invoice_id}\",\"{missing}\"],"
          "\"n\":3,\"brace\":\"{not a name} {}\"}",
          args,
          "{\"amount\":{\"value\":12.5,\"currency\":\"EUR\"},"
          "\"note\":\"invoice INV-1 of 12.5\",\"tags\":[\"a\",\"b\"],"
          "\"list\":[\"INV-1\",null],\"n\":3,"
          "\"brace\":\"{not a name} {}\"}");
  body_is("{\"memo\":\"{evil}\",\"text\":\"x {evil} y\"}", args,
          "{\"memo\":\"\\\", \\\"admin\\\": true\","
          "\"text\":\"x \\\", \\\"admin\\\": true y\"}");
  body_is("\"{amount}\"", args, "12.5");
  body_is("\"{missing}\"", args, "null");

  char errstr[256];
  json_t *tmpl = json_pack("{s:s}", "note", "pay {missing} now");
  json_t *a = json_loads(args, 0, NULL);
  ck_assert_ptr_null(lf_http_body_render(tmpl, a, errstr, sizeof(errstr)));
  ck_assert_str_eq(errstr, "body: argument \"missing\" is missing");
  json_decref(a);
  json_decref(tmpl);
}
END_TEST

START_TEST(allowlist) {
  char errstr[256];
  const lf_url_allow_t allow[] = {
      {"https", "api.example.com", 0, "/v1/"},
      {"", "127.0.0.1", 8080, ""},
  };
  static const char *const ok[] = {
      "https://api.example.com/v1/invoices/1",
      "https://API.example.com:443/v1/x?y=1",
      "http://127.0.0.1:8080/anything",
  };
  static const char *const refused[] = {
      "http://api.example.com/v1/x",       /* scheme */
      "https://api.example.com/v2/x",      /* path prefix */
      "https://api.example.com:8443/v1/x", /* port */
      "https://api.example.com.evil.com/v1/x",
      "https://evil.com/v1/?https://api.example.com/v1/",
      "http://127.0.0.1/anything",
      "gopher://127.0.0.1:8080/",
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    ck_assert_msg(lf_url_allowed(ok[i], allow, 2, errstr, sizeof(errstr)) ==
                      LF_OK,
                  "%s: %s", ok[i], errstr);
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
    ck_assert_msg(
        lf_url_allowed(refused[i], allow, 2, errstr, sizeof(errstr)) != LF_OK,
        "%s allowed", refused[i]);
}
END_TEST

static const char *classify(const char *ip) {
  struct sockaddr_in6 s6 = {0};
  struct sockaddr_in s4 = {0};
  if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1) {
    s4.sin_family = AF_INET;
    return lf_addr_internal((struct sockaddr *)&s4);
  }
  ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
  s6.sin6_family = AF_INET6;
  return lf_addr_internal((struct sockaddr *)&s6);
}

START_TEST(address_ranges) {
  static const struct {
    const char *ip, *range; /* NULL: public */
  } t[] = {
      {"127.0.0.1", "loopback"},
      {"127.255.0.9", "loopback"},
      {"0.0.0.0", "unspecified"},
      {"10.1.2.3", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"172.32.0.1", NULL},
      {"192.168.1.1", "private"},
      {"169.254.169.254", "metadata"},
      {"169.254.1.1", "link-local"},
      {"100.64.0.1", "shared (carrier-grade NAT)"},
      {"224.0.0.1", "multicast or reserved"},
      {"8.8.8.8", NULL},
      {"::1", "loopback"},
      {"::", "unspecified"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:10.0.0.1", "private"},
      {"::ffff:169.254.169.254", "metadata"},
      {"64:ff9b::a9fe:a9fe", "metadata"},
      {"::127.0.0.1", "loopback"},
      {"fe80::1", "link-local"},
      {"fd00:ec2::254", "private"},
      {"fc00::1", "private"},
      {"ff02::1", "multicast or reserved"},
      {"2001:4860:4860::8888", NULL},
      {"::ffff:8.8.8.8", NULL},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    const char *got = classify(t[i].ip);
    ck_assert_msg(t[i].range ? got && !strcmp(got, t[i].range) : !got,
                  "%s: %s, expected %s", t[i].ip, got ? got : "public",
                  t[i].range ? t[i].range : "public");
  }
}
END_TEST

/* POSTs {} to url with the guard; returns the curl code, status in
 * *status. */
static CURLcode post(const char *url, lf_netguard_t *g, long follow,
                     long *status) {
  CURL *e = curl_easy_init();
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(lf_netguard_install(e, g), CURLE_OK);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, NULL);
  FILE *sink = fopen("/dev/null", "w");
  curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
  CURLcode rc = curl_easy_perform(e);
  *status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(e);
  fclose(sink);
  return rc;
}

START_TEST(connections_to_internal_addresses_are_refused) {
  lf_llm_server_t *s = lf_llm_server_start();
  unsigned port = 0;
  char url[128], allowed[64];
  long status;
  ck_assert_int_eq(sscanf(lf_llm_server_url(s), "http://127.0.0.1:%u", &port),
                   1);
  /* every spelling of the server's loopback address */
  const char *spellings[] = {
      "127.0.0.1", "2130706433", "0177.0.0.1",        "0x7f.1",
      "localhost", "[::1]",      "[::ffff:127.0.0.1]"};
  for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
    lf_netguard_t g = {0};
    snprintf(url, sizeof(url), "http://%s:%u/v1/x", spellings[i], port);
    CURLcode rc = post(url, &g, 0, &status);
    ck_assert_msg(rc == CURLE_COULDNT_CONNECT && strstr(g.refused, "loopback"),
                  "%s: %s (%s)", url, curl_easy_strerror(rc), g.refused);
  }
  ck_assert_uint_eq(lf_llm_server_total(s), 0);

  /* allowed explicitly, the same server is reached... */
  snprintf(allowed, sizeof(allowed), "127.0.0.1:%u", port);
  const char *allow[1] = {allowed};
  lf_netguard_t g = {allow, 1, ""};
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/x", port);
  lf_llm_server_push(s, 200, "{}", 0, NULL);
  ck_assert_int_eq(post(url, &g, 0, &status), CURLE_OK);
  ck_assert_int_eq(status, 200);
  ck_assert_uint_eq(lf_llm_server_total(s), 1);

  /* ...but a redirect from it to the metadata address or to [::1] is not
   * followed anywhere */
  const char *targets[] = {"http://169.254.169.254/latest/meta-data/",
                           "http://[::1]:1/", "http://10.0.0.1/"};
  for (size_t i = 0; i < 3; i++) {
    lf_llm_server_push_redirect(s, targets[i]);
    CURLcode rc = post(url, &g, 1, &status);
    ck_assert_msg(rc == CURLE_COULDNT_CONNECT && strstr(g.refused, "refused"),
                  "redirect to %s: %s (%s)", targets[i], curl_easy_strerror(rc),
                  g.refused);
  }
  /* and no scheme but http(s), even by redirect */
  lf_llm_server_push_redirect(s, "file:///etc/passwd");
  ck_assert_int_eq(post(url, &g, 1, &status), CURLE_UNSUPPORTED_PROTOCOL);
  lf_llm_server_stop(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("http_guard");
  TCase *tc = tcase_create("http_guard");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, url_templates);
  tcase_add_test(tc, body_templates);
  tcase_add_test(tc, allowlist);
  tcase_add_test(tc, address_ranges);
  tcase_add_test(tc, connections_to_internal_addresses_are_refused);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
