#include "admit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "lf_text.h"

/* One call admits n actions in order (see build() for its arguments), so
 * two of them sharing a key or a budget see each other. The rate and
 * budget counters they count on are passed once each, not per action,
 * read once per call and written once per call (INCRBY / INCRBYFLOAT of
 * the call's total, then PEXPIRE): an action costs Redis two commands, its
 * key's GET and SET, and the script as a whole stays atomic across
 * guards. The reply is flat, two strings an action: its verdict and what
 * it refers to (the key's holder, the calls or the amount used before
 * it); no table is made per action. */
static const char script[] =
    "local n, m = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local ctr = {}\n"
    "for j = 1, m do\n"
    "  local a = 2 + (j - 1) * 3\n"
    "  ctr[j] = {key = KEYS[n + j], int = ARGV[a + 1] == 'r',\n"
    "            limit = tonumber(ARGV[a + 2]), ttl = ARGV[a + 3], add = 0}\n"
    "end\n"
    "local function used(c)\n"
    "  if not c.base then\n"
    "    c.base = tonumber(redis.call('GET', c.key) or '0')\n"
    "  end\n"
    "  return c.base + c.add\n"
    "end\n"
    "local out, o, at = {}, 0, 2 + m * 3\n"
    "for i = 1, n do\n"
    "  local a = at + (i - 1) * 7\n"
    "  local held = redis.call('GET', KEYS[i])\n"
    "  local verdict, detail = 'ok', ''\n"
    "  if held then\n"
    "    verdict = held == ARGV[a + 1] and 'own' or 'duplicate'\n"
    "    detail = held\n"
    "  else\n"
    "    local ri, bi = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])\n"
    "    local r, b = ri > 0 and ctr[ri] or nil, bi > 0 and ctr[bi] or nil\n"
    "    local amount = tonumber(ARGV[a + 3])\n"
    "    if r and used(r) + 1 > r.limit then\n"
    "      verdict, detail = 'rate_limited', tostring(used(r))\n"
    "    end\n"
    "    if b and verdict == 'ok' and used(b) + amount > b.limit then\n"
    "      verdict, detail = 'budget_exceeded', tostring(used(b))\n"
    "    end\n"
    "    if ARGV[a + 6] == '1' and (verdict == 'ok' or ARGV[a + 7] == '0') "
    "then\n"
    "      if r then r.add = r.add + 1 end\n"
    "      if b then b.add = b.add + amount end\n"
    "      redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ARGV[a + 2])\n"
    "    end\n"
    "  end\n"
    "  out[o + 1], out[o + 2], o = verdict, detail, o + 2\n"
    "end\n"
    "for j = 1, m do\n"
    "  local c = ctr[j]\n"
    "  if c.add ~= 0 then\n"
    "    if c.int then redis.call('INCRBY', c.key, c.add)\n"
    "    else redis.call('INCRBYFLOAT', c.key, string.format('%.17g', c.add))\n"
    "    end\n"
    "    redis.call('PEXPIRE', c.key, c.ttl)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Per action: its idempotency key, and 7 arguments. */
#define ARGS 7
/* Longest key: a prefix, two identifiers (LF_ID_MAX each) and their
 * lengths. A key that would not fit is refused, never truncated. */
#define SLOT 1100

/* The script's arguments, written one after another into one buffer (a
 * batch's keys and numbers, without a fixed slot each). */
typedef struct args {
  char *s;
  size_t n, cap;
  size_t *at; /* where each argument starts */
  size_t *len;
  size_t count;
  int oom;
} args_t;

static void add(args_t *g, const char *fmt, ...) {
  va_list ap;
  for (int tries = 0; tries < 2 && !g->oom; tries++) {
    va_start(ap, fmt);
    int k = vsnprintf(g->s + g->n, g->cap - g->n, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < g->cap - g->n) {
      g->at[g->count] = g->n;
      g->len[g->count++] = (size_t)k;
      g->n += (size_t)k + 1;
      return;
    }
    size_t cap = g->cap * 2 + (size_t)(k > 0 ? k : 0) + 1;
    char *p = k >= 0 ? realloc(g->s, cap) : NULL;
    if (!p)
      g->oom = 1;
    else
      g->s = p, g->cap = cap;
  }
}

/* A rate or budget counter the call's actions share: one per tenant,
 * action and window, however many of the call's actions count on it. */
typedef struct counter {
  const char *tenant;
  const lf_catalog_action_t *def;
  int budget;
  long long window; /* the window's index: now / its length */
} counter_t;

/* The counter's number (1-based) among cs[0..*m), added if new. */
static size_t counter_of(counter_t *cs, size_t *m, const lf_admit_t *a,
                         int budget) {
  const lf_catalog_action_t *d = a->def;
  long long w = a->now_ms / (budget ? d->budget_window_ms : d->rate_window_ms);
  for (size_t j = 0; j < *m; j++)
    if (cs[j].def == d && cs[j].budget == budget && cs[j].window == w &&
        !strcmp(cs[j].tenant, a->tenant))
      return j + 1;
  cs[*m] = (counter_t){a->tenant, d, budget, w};
  return ++*m;
}

/* Fixed windows: the window's index is part of the key, so a window's
 * counter disappears with its TTL and the next starts from zero. Each
 * variable part after its length: tenant "a:b" and key "c" can never
 * share a key with tenant "a" and key "b:c". */
static void add_counter_key(args_t *g, const char *p, const counter_t *c) {
  size_t tl = strlen(c->tenant), nl = strlen(c->def->name);
  add(g, "%s%s:%zu:%s:%zu:%s:%lld", p, c->budget ? "budget" : "rate", tl,
      c->tenant, nl, c->def->name, c->window);
}

static void add_counter_values(args_t *g, const counter_t *c) {
  char num[LF_REAL_TEXT_MAX]; /* shortest text that reads back exactly */
  const lf_catalog_action_t *d = c->def;
  if (c->budget)
    lf_json_real_text(d->budget_limit, num);
  else
    snprintf(num, sizeof(num), "%lld", (long long)d->rate_count);
  add(g, "%s", c->budget ? "b" : "r");
  add(g, "%s", num);
  add(g, "%lld",
      (long long)(c->budget ? d->budget_window_ms : d->rate_window_ms));
}

static void add_values(args_t *g, const lf_admit_t *a, size_t rate,
                       size_t budget) {
  char num[LF_REAL_TEXT_MAX];
  lf_json_real_text(a->def->budget_arg ? a->amount : 0.0, num);
  add(g, "%s", a->action_id);
  add(g, "%lld", (long long)a->ttl_ms);
  add(g, "%s", num);
  add(g, "%zu", rate);
  add(g, "%zu", budget);
  add(g, "%d", a->commit);
  add(g, "%d", a->enforce);
}

/* A key longer than SLOT - 1 is refused, for the record's sake. */
static lf_err_t check_key(const args_t *g, const char *action_id, char *errstr,
                          size_t errstr_size) {
  if (g->oom || g->len[g->count - 1] < SLOT)
    return LF_OK;
  snprintf(errstr, errstr_size,
           "action %s: its Redis keys would be longer than %d bytes", action_id,
           SLOT - 1);
  return LF_ERR_RECORD;
}

/* The call's arguments: numkeys; the actions' idempotency keys, then the
 * counters' keys; n, m; per counter its kind, limit and window; per
 * action its id, ttl, amount, rate and budget counters (0: none), commit
 * and enforce. */
static lf_err_t build(args_t *g, const char *p, const lf_admit_t *a, size_t n,
                      counter_t *cs, size_t *ri, size_t *bi, char *errstr,
                      size_t errstr_size) {
  size_t m = 0;
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n; i++) {
    ri[i] = a[i].def->rate_count ? counter_of(cs, &m, &a[i], 0) : 0;
    bi[i] = a[i].def->budget_arg ? counter_of(cs, &m, &a[i], 1) : 0;
  }
  add(g, "%zu", n + m);
  for (size_t i = 0; i < n && !err; i++) {
    add(g, "%sidem:%zu:%s:%s", p, strlen(a[i].tenant), a[i].tenant, a[i].key);
    err = check_key(g, a[i].action_id, errstr, errstr_size);
  }
  for (size_t j = 0; j < m && !err; j++) {
    add_counter_key(g, p, &cs[j]);
    err = check_key(g, a[0].action_id, errstr, errstr_size);
  }
  add(g, "%zu", n);
  add(g, "%zu", m);
  for (size_t j = 0; j < m && !err; j++)
    add_counter_values(g, &cs[j]);
  for (size_t i = 0; i < n && !err; i++)
    add_values(g, &a[i], ri[i], bi[i]);
  return err;
}

lf_err_t lf_limits_append(lf_redis_t *r, const lf_admit_t *a, size_t n,
                          char *errstr, size_t errstr_size) {
  /* at most: numkeys, n + 2n keys, n and m, 3 per counter, 7 per action */
  size_t argc = 3 + n * (1 + 2 + 6 + ARGS);
  args_t g = {.cap = 48 * argc}; /* grown when keys are longer */
  const char **argv = malloc(argc * sizeof(*argv));
  counter_t *cs = malloc((2 * n + 1) * sizeof(*cs));
  size_t *idx = malloc((2 * n + 1) * sizeof(*idx));
  lf_err_t err = LF_OK;
  g.s = malloc(g.cap);
  g.at = malloc(argc * sizeof(*g.at));
  g.len = malloc(argc * sizeof(*g.len));
  if (!argv || !cs || !idx || !g.s || !g.at || !g.len)
    g.oom = 1;
  else
    err = build(&g, lf_redis_prefix(r), a, n, cs, idx, idx + n, errstr,
                errstr_size);
  if (g.oom && !err) {
    snprintf(errstr, errstr_size, "out of memory");
    err = LF_ERR_NOMEM;
  }
  for (size_t i = 0; !err && i < g.count; i++)
    argv[i] = g.s + g.at[i];
  if (!err)
    err = lf_redis_append_script_argv(r, script, (int)g.count, argv, g.len,
                                      errstr, errstr_size);
  free(argv);
  free(cs);
  free(idx);
  free(g.s);
  free(g.at);
  free(g.len);
  return err;
}

static lf_err_t parse_one(const redisReply *verdict, const redisReply *detail,
                          lf_admit_result_t *res) {
  static const char *const names[] = {"ok", "own", "duplicate", "rate_limited",
                                      "budget_exceeded"};
  memset(res, 0, sizeof(*res));
  if (verdict->type != REDIS_REPLY_STRING || detail->type != REDIS_REPLY_STRING)
    return LF_ERR_REDIS_REPLY;
  lf_err_t err = LF_ERR_REDIS_REPLY;
  for (int i = 0; i < 5 && err; i++)
    if (!strcmp(verdict->str, names[i])) {
      res->status = (lf_admit_status_t)i;
      err = LF_OK;
    }
  if (res->status == LF_ADMIT_OWN || res->status == LF_ADMIT_DUPLICATE)
    snprintf(res->holder, sizeof(res->holder), "%s", detail->str);
  else if (res->status == LF_ADMIT_RATE_LIMITED)
    res->used = strtoll(detail->str, NULL, 10);
  else if (res->status == LF_ADMIT_BUDGET_EXCEEDED)
    res->spent = strtod(detail->str, NULL);
  return err;
}

lf_err_t lf_limits_reply(lf_redis_t *r, lf_admit_result_t *res, size_t n,
                         char *errstr, size_t errstr_size) {
  redisReply *rep = NULL;
  lf_err_t err = lf_redis_reply(r, &rep, errstr, errstr_size);
  if (err)
    return err;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 * n)
    err = LF_ERR_REDIS_REPLY;
  for (size_t i = 0; !err && i < n; i++)
    err = parse_one(rep->element[2 * i], rep->element[2 * i + 1], &res[i]);
  if (err)
    snprintf(errstr, errstr_size, "admission script: unexpected reply");
  freeReplyObject(rep);
  return err;
}
