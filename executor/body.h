/* A binding's "body" template: the JSON an HTTP action sends, with the
 * action's arguments placed in it. A string that is exactly "{name}"
 * becomes the argument's value, whatever its type (an object member whose
 * argument is absent is left out, an array element becomes null);
 * "{name}" inside a longer string becomes the argument's text (a string
 * as it is, anything else as compact JSON), and an absent one fails the
 * action. Everything else is sent as written. Arguments only ever become
 * values: a template's keys and structure are the catalog's. Without a
 * template the arguments are the body. */
#ifndef LF_EXECUTOR_BODY_H
#define LF_EXECUTOR_BODY_H

#include <jansson.h>
#include <stddef.h>

/* The body, or NULL with errstr (an argument missing from a longer
 * string, no memory). */
json_t *lf_http_body_render(const json_t *tmpl, const json_t *args,
                            char *errstr, size_t errstr_size);

#endif
