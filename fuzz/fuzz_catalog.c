/* Catalog loading: any bytes either load or are rejected with a message;
 * never a crash, a leak or undefined behaviour. A loaded catalog is also
 * exercised: every action's schema validates its own catalog text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errstr[1024];
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  lf_catalog_t *cat = lf_catalog_parse(text, "fuzz", errstr, sizeof(errstr));
  for (size_t i = 0; cat && i < lf_catalog_count(cat); i++) {
    lf_reasons_t r = {0};
    lf_catalog_check_args(lf_catalog_at(cat, i), text, &r, NULL);
    lf_reasons_free(&r);
  }
  lf_catalog_destroy(cat);
  free(text);
  return 0;
}
