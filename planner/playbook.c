#include "playbook.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_GROUPS 10

typedef struct play {
  const char *name;
  regex_t re;
  json_t *steps; /* array of step objects, borrowed from root */
  const char *answer;
} play_t;

struct lf_playbook {
  json_t *root;
  play_t *plays;
  size_t n;
};

/* A growing string. */
typedef struct buf {
  char *s;
  size_t len, cap;
  int oom;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *grown = realloc(b->s, cap);
    if (!grown) {
      b->oom = 1;
      return;
    }
    b->s = grown;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

/* Value of one template variable, or NULL if there is no such variable.
 * With vars NULL only the name is checked. */
static const char *var(const char *name, size_t n, const lf_play_vars_t *vars,
                       char *num, size_t num_size) {
  if (n == 1 && name[0] >= '0' && name[0] <= '9') {
    if (!vars)
      return "";
    const char *s = json_string_value(
        json_array_get(vars->captures, (size_t)(name[0] - '0')));
    return s ? s : "";
  }
#define IS(lit) (n == sizeof(lit) - 1 && !strncmp(name, lit, n))
  if (IS("goal_id"))
    return vars ? vars->goal_id : "";
  if (IS("tenant"))
    return vars ? vars->tenant : "";
  if (IS("text"))
    return vars ? vars->text : "";
  if (IS("step")) {
    snprintf(num, num_size, "%u", vars ? vars->step : 0);
    return num;
  }
#undef IS
  return NULL;
}

/* Expands tmpl; NULL on an unknown variable (named in bad) or no memory. */
static char *expand(const char *tmpl, const lf_play_vars_t *vars, char *bad,
                    size_t bad_size) {
  buf_t b = {0};
  char num[16];
  put(&b, "", 0);
  for (const char *p = tmpl; *p;) {
    const char *open = strstr(p, "{{");
    const char *close = open ? strstr(open + 2, "}}") : NULL;
    if (!close) {
      put(&b, p, strlen(p));
      break;
    }
    put(&b, p, (size_t)(open - p));
    const char *v =
        var(open + 2, (size_t)(close - open - 2), vars, num, sizeof(num));
    if (!v) {
      snprintf(bad, bad_size, "%.*s", (int)(close - open + 2), open);
      free(b.s);
      return NULL;
    }
    put(&b, v, strlen(v));
    p = close + 2;
  }
  if (b.oom) {
    snprintf(bad, bad_size, "(out of memory)");
    free(b.s);
    return NULL;
  }
  return b.s;
}

/* Renders every string inside v (a deep copy is returned). */
static json_t *render(const json_t *v, const lf_play_vars_t *vars, char *bad,
                      size_t bad_size) {
  if (json_is_string(v)) {
    char *s = expand(json_string_value(v), vars, bad, bad_size);
    json_t *out = s ? json_string(s) : NULL;
    free(s);
    return out;
  }
  json_t *copy = json_is_object(v)  ? json_object()
                 : json_is_array(v) ? json_array()
                                    : json_deep_copy(v);
  const char *key;
  size_t i;
  json_t *item;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, item) {
      json_t *r = render(item, vars, bad, bad_size);
      if (!r || json_object_set_new(copy, key, r))
        goto fail;
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, item) {
      json_t *r = render(item, vars, bad, bad_size);
      if (!r || json_array_append_new(copy, r))
        goto fail;
    }
  }
  return copy;
fail:
  json_decref(copy);
  return NULL;
}

static int check_step(const json_t *step, const char *origin, const char *play,
                      size_t k, char *errstr, size_t errstr_size) {
  char bad[128] = "";
  const json_t *action = json_object_get(step, "action");
  const json_t *args = json_object_get(step, "arguments");
  const json_t *key = json_object_get(step, "idempotency_key");
  if (!json_is_object(step) || !json_is_string(action)) {
    snprintf(errstr, errstr_size,
             "%s: play \"%s\" /steps/%zu: a step needs \"action\" (a string)",
             origin, play, k);
    return -1;
  }
  if (args && !json_is_object(args)) {
    snprintf(errstr, errstr_size,
             "%s: play \"%s\" /steps/%zu: \"arguments\" must be an object",
             origin, play, k);
    return -1;
  }
  json_t *r = render(args ? args : json_object_get(step, "action"), NULL, bad,
                     sizeof(bad));
  char *s = json_is_string(key)
                ? expand(json_string_value(key), NULL, bad, sizeof(bad))
                : NULL;
  json_decref(r);
  free(s);
  if (bad[0]) {
    snprintf(errstr, errstr_size,
             "%s: play \"%s\" /steps/%zu: unknown template variable %s "
             "(known: {{0}}..{{9}}, {{goal_id}}, {{tenant}}, {{text}}, "
             "{{step}})",
             origin, play, k, bad);
    return -1;
  }
  return 0;
}

static int read_play(json_t *j, size_t i, const char *origin, play_t *p,
                     char *errstr, size_t errstr_size) {
  const char *name = json_string_value(json_object_get(j, "name"));
  const char *match = json_string_value(json_object_get(j, "match"));
  json_t *steps = json_object_get(j, "steps");
  if (!name || !match || !json_is_array(steps)) {
    snprintf(errstr, errstr_size,
             "%s: /playbooks/%zu: a play needs \"name\", \"match\" and "
             "\"steps\" (an array)",
             origin, i);
    return -1;
  }
  int rc = regcomp(&p->re, match, REG_EXTENDED | REG_ICASE);
  if (rc) {
    char why[256];
    regerror(rc, &p->re, why, sizeof(why));
    snprintf(errstr, errstr_size, "%s: play \"%s\": bad pattern \"%s\": %s",
             origin, name, match, why);
    return -1;
  }
  p->name = name;
  p->steps = steps;
  p->answer = json_string_value(json_object_get(j, "answer"));
  size_t k;
  json_t *step;
  json_array_foreach(steps, k, step) {
    if (check_step(step, origin, name, k, errstr, errstr_size))
      goto fail;
  }
  char bad[128];
  char *a = p->answer ? expand(p->answer, NULL, bad, sizeof(bad)) : NULL;
  if (p->answer && !a) {
    snprintf(errstr, errstr_size,
             "%s: play \"%s\": unknown template variable %s in \"answer\"",
             origin, name, bad);
    goto fail;
  }
  free(a);
  return 0;
fail:
  regfree(&p->re);
  return -1;
}

void lf_playbook_destroy(lf_playbook_t *pb) {
  if (!pb)
    return;
  for (size_t i = 0; i < pb->n; i++)
    regfree(&pb->plays[i].re);
  free(pb->plays);
  json_decref(pb->root);
  free(pb);
}

lf_playbook_t *lf_playbook_parse(const char *text, const char *origin,
                                 char *errstr, size_t errstr_size) {
  json_error_t jerr;
  lf_playbook_t *pb = calloc(1, sizeof(*pb));
  if (!pb) {
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return NULL;
  }
  if (!(pb->root = json_loads(text, 0, &jerr))) {
    snprintf(errstr, errstr_size, "%s:%d:%d: %s", origin, jerr.line,
             jerr.column, jerr.text);
    goto fail;
  }
  json_t *plays = json_object_get(pb->root, "playbooks");
  if (!json_is_array(plays)) {
    snprintf(errstr, errstr_size, "%s: expected {\"playbooks\": [...]}",
             origin);
    goto fail;
  }
  size_t cnt = json_array_size(plays);
  if (cnt && !(pb->plays = calloc(cnt, sizeof(*pb->plays)))) {
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    goto fail;
  }
  for (; pb->n < cnt; pb->n++)
    if (read_play(json_array_get(plays, pb->n), pb->n, origin,
                  &pb->plays[pb->n], errstr, errstr_size))
      goto fail;
  return pb;
fail:
  lf_playbook_destroy(pb);
  return NULL;
}

lf_playbook_t *lf_playbook_load(const char *path, char *errstr,
                                size_t errstr_size) {
  char *text = lf_read_file(path, NULL, errstr, errstr_size);
  if (!text)
    return NULL;
  lf_playbook_t *pb = lf_playbook_parse(text, path, errstr, errstr_size);
  free(text);
  return pb;
}

int lf_playbook_match(const lf_playbook_t *pb, const char *text,
                      json_t **captures) {
  regmatch_t m[MAX_GROUPS];
  for (size_t i = 0; i < pb->n; i++) {
    if (regexec(&pb->plays[i].re, text, MAX_GROUPS, m, 0))
      continue;
    json_t *caps = json_array();
    for (int g = 0; caps && g < MAX_GROUPS && m[g].rm_so >= 0; g++)
      json_array_append_new(
          caps,
          json_stringn(text + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so)));
    *captures = caps;
    return caps ? (int)i : -1;
  }
  return -1;
}

int lf_playbook_find(const lf_playbook_t *pb, const char *name) {
  for (size_t i = 0; i < pb->n; i++)
    if (!strcmp(pb->plays[i].name, name))
      return (int)i;
  return -1;
}

const char *lf_playbook_name(const lf_playbook_t *pb, int play) {
  return pb->plays[play].name;
}

unsigned lf_playbook_steps(const lf_playbook_t *pb, int play) {
  return (unsigned)json_array_size(pb->plays[play].steps);
}

void lf_play_step_clear(lf_play_step_t *s) {
  free(s->arguments_json);
  free(s->idempotency_key);
  free(s->rationale);
  memset(s, 0, sizeof(*s));
}

lf_err_t lf_playbook_render_step(const lf_playbook_t *pb, int play,
                                 unsigned step, const lf_play_vars_t *vars,
                                 lf_play_step_t *out) {
  const json_t *j = json_array_get(pb->plays[play].steps, step);
  const json_t *args = json_object_get(j, "arguments");
  const char *key = json_string_value(json_object_get(j, "idempotency_key"));
  const char *why = json_string_value(json_object_get(j, "rationale"));
  char bad[128];
  memset(out, 0, sizeof(*out));
  out->action = json_string_value(json_object_get(j, "action"));
  json_t *r = args ? render(args, vars, bad, sizeof(bad)) : json_object();
  out->arguments_json = r ? json_dumps(r, JSON_COMPACT) : NULL;
  json_decref(r);
  out->idempotency_key = key ? expand(key, vars, bad, sizeof(bad)) : strdup("");
  out->rationale = strdup(why ? why : "");
  if (!out->action || !out->arguments_json || !out->idempotency_key ||
      !out->rationale) {
    lf_play_step_clear(out);
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

char *lf_playbook_render_answer(const lf_playbook_t *pb, int play,
                                const lf_play_vars_t *vars) {
  char bad[128];
  const char *a = pb->plays[play].answer;
  return a ? expand(a, vars, bad, sizeof(bad)) : strdup("");
}
