/* URL templating of HTTP actions: any template (first line) and arguments
 * (the rest, as JSON) render or are refused with a message; never a crash,
 * a leak or undefined behaviour, and a rendered URL always keeps the
 * template's scheme and authority: arguments cannot move the request. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t authority_end(const char *t) {
  const char *a = strstr(t, "://");
  return a ? (size_t)(a + 3 - t) + strcspn(a + 3, "/?#") : 0;
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
  json_decref(args);
  free(text);
  return 0;
}
