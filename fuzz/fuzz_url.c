/* URL and body templating of HTTP actions: any template (first line) and
 * arguments (the rest, as JSON) render or are refused with a message;
 * never a crash, a leak or undefined behaviour. A rendered URL always
 * keeps the template's scheme and authority, and a rendered body the
 * template's keys: arguments cannot move the request or reshape it. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t authority_end(const char *t) {
  const char *a = strstr(t, "://");
  return a ? (size_t)(a + 3 - t) + strcspn(a + 3, "/?#") : 0;
}

static const char body_tmpl[] =
    "{\"a\": \"{x}\", \"b\": \"pre {y} {x} post\", \"c\": [\"{x}\", \"{z}\"], "
    "\"d\": {\"e\": \"{y}\"}}";

/* Only the template's keys, in the template's shape. */
static void check_body(const json_t *args) {
  char errstr[256];
  json_t *tmpl = json_loads(body_tmpl, 0, NULL);
  json_t *body =
      tmpl ? lf_http_body_render(tmpl, args, errstr, sizeof(errstr)) : NULL;
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) if (!json_object_get(tmpl, k)) abort();
  json_t *d = json_object_get(body, "d");
  if (json_object_get(body, "b") && !json_is_string(json_object_get(body, "b")))
    abort();
  if (d && (!json_is_object(d) || json_object_size(d) > 1 ||
            (json_object_size(d) && !json_object_get(d, "e"))))
    abort();
  if (json_object_get(body, "c") &&
      json_array_size(json_object_get(body, "c")) != 2)
    abort();
  json_decref(body);
  json_decref(tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errstr[256];
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *nl = strchr(text, '\n');
  json_t *args = nl ? json_loads(nl + 1, 0, NULL) : json_object();
  if (nl)
    *nl = '\0';
  char *url = lf_url_render(text, args, errstr, sizeof(errstr));
  if (url) {
    size_t n = authority_end(text);
    if (strncmp(url, text, n) || authority_end(url) != n)
      abort(); /* an argument changed where the request goes */
  }
  free(url);
  if (json_is_object(args))
    check_body(args);
  json_decref(args);
  free(text);
  return 0;
}
