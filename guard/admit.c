#include "admit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "lf_text.h"

/* Per action: KEYS idempotency, rate, budget; ARGV action id, reservation
 * ttl ms, rate count (0: none), rate window ms, amount, budget limit ("":
 * none), budget window ms, commit (1/0), enforce (1/0). A batch's actions
 * run in order inside one call, so two of them sharing a key or a budget
 * see each other. Rate and budget counters are read once per batch and
 * written once per batch (INCRBY / INCRBYFLOAT of the batch's total, then
 * PEXPIRE): an action costs Redis two commands, its key's GET and SET, and
 * the script as a whole stays atomic across guards. */
static const char script[] =
    "local counters = {}\n"
    "local function counter(key, ttl)\n"
    "  local c = counters[key]\n"
    "  if not c then\n"
    "    c = {base = tonumber(redis.call('GET', key) or '0'), add = 0,\n"
    "         ttl = ttl}\n"
    "    counters[key] = c\n"
    "  end\n"
    "  return c\n"
    "end\n"
    "local function admit(k, a)\n"
    "  local held = redis.call('GET', k[1])\n"
    "  if held then\n"
    "    if held == a[1] then return {'own', held, '0', '0'} end\n"
    "    return {'duplicate', held, '0', '0'}\n"
    "  end\n"
    "  local verdict = 'ok'\n"
    "  local rate, used, spent, r, b = tonumber(a[3]), 0, 0, nil, nil\n"
    "  if rate > 0 then\n"
    "    r = counter(k[2], a[4])\n"
    "    used = r.base + r.add\n"
    "    if used + 1 > rate then verdict = 'rate_limited' end\n"
    "  end\n"
    "  if a[6] ~= '' then\n"
    "    b = counter(k[3], a[7])\n"
    "    spent = b.base + b.add\n"
    "    if verdict == 'ok' and spent + tonumber(a[5]) > tonumber(a[6]) then\n"
    "      verdict = 'budget_exceeded'\n"
    "    end\n"
    "  end\n"
    "  if a[8] == '1' and (verdict == 'ok' or a[9] == '0') then\n"
    "    if r then r.add = r.add + 1; r.int = true end\n"
    "    if b then b.add = b.add + tonumber(a[5]) end\n"
    "    redis.call('SET', k[1], a[1], 'PX', a[2])\n"
    "  end\n"
    "  return {verdict, '', tostring(used), tostring(spent)}\n"
    "end\n"
    "local out = {}\n"
    "for i = 0, #KEYS / 3 - 1 do\n"
    "  out[i + 1] = admit({KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]},\n"
    "                     {unpack(ARGV, i * 9 + 1, i * 9 + 9)})\n"
    "end\n"
    "for key, c in pairs(counters) do\n"
    "  if c.add ~= 0 then\n"
    "    if c.int then redis.call('INCRBY', key, c.add)\n"
    "    else redis.call('INCRBYFLOAT', key, string.format('%.17g', c.add))\n"
    "    end\n"
    "    redis.call('PEXPIRE', key, c.ttl)\n"
    "  end\n"
    "end\n"
    "return out\n";

#define KEYS 3
#define ARGS 9
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

/* Fixed windows: the window's index is part of the key, so a window's
 * counter disappears with its TTL and the next starts from zero. Each
 * variable part after its length: tenant "a:b" and key "c" can never
 * share a key with tenant "a" and key "b:c". */
static void add_keys(args_t *g, const char *p, const lf_admit_t *a) {
  const lf_catalog_action_t *d = a->def;
  long long rw = d->rate_count ? a->now_ms / d->rate_window_ms : 0;
  long long bw = d->budget_arg ? a->now_ms / d->budget_window_ms : 0;
  size_t tl = strlen(a->tenant), nl = strlen(d->name);
  add(g, "%sidem:%zu:%s:%s", p, tl, a->tenant, a->key);
  add(g, "%srate:%zu:%s:%zu:%s:%lld", p, tl, a->tenant, nl, d->name, rw);
  add(g, "%sbudget:%zu:%s:%zu:%s:%lld", p, tl, a->tenant, nl, d->name, bw);
}

static void add_values(args_t *g, const lf_admit_t *a) {
  const lf_catalog_action_t *d = a->def;
  char num[LF_REAL_TEXT_MAX]; /* shortest text that reads back exactly */
  add(g, "%s", a->action_id);
  add(g, "%lld", (long long)a->ttl_ms);
  add(g, "%lld", (long long)d->rate_count);
  add(g, "%lld", (long long)(d->rate_count ? d->rate_window_ms : 1));
  lf_json_real_text(d->budget_arg ? a->amount : 0.0, num);
  add(g, "%s", num);
  if (d->budget_arg)
    lf_json_real_text(d->budget_limit, num);
  add(g, "%s", d->budget_arg ? num : "");
  add(g, "%lld", (long long)(d->budget_arg ? d->budget_window_ms : 1));
  add(g, "%d", a->commit);
  add(g, "%d", a->enforce);
}

lf_err_t lf_limits_append(lf_redis_t *r, const lf_admit_t *a, size_t n,
                          char *errstr, size_t errstr_size) {
  size_t argc = 1 + n * (KEYS + ARGS);
  args_t g = {.cap = 48 * argc}; /* grown when keys are longer */
  const char **argv = malloc(argc * sizeof(*argv));
  lf_err_t err = LF_OK;
  g.s = malloc(g.cap);
  g.at = malloc(argc * sizeof(*g.at));
  g.len = malloc(argc * sizeof(*g.len));
  if (!argv || !g.s || !g.at || !g.len)
    g.oom = 1;
  add(&g, "%zu", n * KEYS);
  for (size_t i = 0; i < n && !g.oom; i++) {
    add_keys(&g, lf_redis_prefix(r), &a[i]);
    for (size_t k = g.count - KEYS; k < g.count && !err; k++)
      if (g.len[k] >= SLOT) {
        snprintf(errstr, errstr_size,
                 "action %s: its Redis keys would be longer than %d bytes",
                 a[i].action_id, SLOT - 1);
        err = LF_ERR_RECORD;
      }
  }
  for (size_t i = 0; i < n && !g.oom && !err; i++)
    add_values(&g, &a[i]);
  if (g.oom && !err) {
    snprintf(errstr, errstr_size, "out of memory");
    err = LF_ERR_NOMEM;
  }
  for (size_t i = 0; !err && i < argc; i++)
    argv[i] = g.s + g.at[i];
  if (!err)
    err = lf_redis_append_script_argv(r, script, (int)argc, argv, g.len, errstr,
                                      errstr_size);
  free(argv);
  free(g.s);
  free(g.at);
  free(g.len);
  return err;
}

static lf_err_t parse_one(const redisReply *rep, lf_admit_result_t *res) {
  static const char *const names[] = {"ok", "own", "duplicate", "rate_limited",
                                      "budget_exceeded"};
  memset(res, 0, sizeof(*res));
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
    return LF_ERR_REDIS_REPLY;
  for (size_t i = 0; i < 4; i++)
    if (rep->element[i]->type != REDIS_REPLY_STRING)
      return LF_ERR_REDIS_REPLY;
  lf_err_t err = LF_ERR_REDIS_REPLY;
  for (int i = 0; i < 5; i++)
    if (!strcmp(rep->element[0]->str, names[i])) {
      res->status = (lf_admit_status_t)i;
      err = LF_OK;
    }
  snprintf(res->holder, sizeof(res->holder), "%s", rep->element[1]->str);
  res->used = strtoll(rep->element[2]->str, NULL, 10);
  res->spent = strtod(rep->element[3]->str, NULL);
  return err;
}

lf_err_t lf_limits_reply(lf_redis_t *r, lf_admit_result_t *res, size_t n,
                         char *errstr, size_t errstr_size) {
  redisReply *rep = NULL;
  lf_err_t err = lf_redis_reply(r, &rep, errstr, errstr_size);
  if (err)
    return err;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
    err = LF_ERR_REDIS_REPLY;
  for (size_t i = 0; !err && i < n; i++)
    err = parse_one(rep->element[i], &res[i]);
  if (err)
    snprintf(errstr, errstr_size, "admission script: unexpected reply");
  freeReplyObject(rep);
  return err;
}
