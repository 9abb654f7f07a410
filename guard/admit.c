#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_text.h"

/* Per action: KEYS idempotency, rate, budget; ARGV action id, reservation
 * ttl ms, rate count (0: none), rate window ms, amount, budget limit ("":
 * none), budget window ms, commit (1/0), enforce (1/0). A batch's actions
 * run in order inside one call, so two of them sharing a key or a budget
 * see each other. */
static const char script[] =
    "local function admit(k, a)\n"
    "  local held = redis.call('GET', k[1])\n"
    "  if held then\n"
    "    if held == a[1] then return {'own', held, '0', '0'} end\n"
    "    return {'duplicate', held, '0', '0'}\n"
    "  end\n"
    "  local verdict = 'ok'\n"
    "  local rate = tonumber(a[3])\n"
    "  local used = tonumber(redis.call('GET', k[2]) or '0')\n"
    "  if rate > 0 and used + 1 > rate then verdict = 'rate_limited' end\n"
    "  local spent = tonumber(redis.call('GET', k[3]) or '0')\n"
    "  if verdict == 'ok' and a[6] ~= '' and\n"
    "     spent + tonumber(a[5]) > tonumber(a[6]) then\n"
    "    verdict = 'budget_exceeded'\n"
    "  end\n"
    "  if a[8] == '1' and (verdict == 'ok' or a[9] == '0') then\n"
    "    if rate > 0 then\n"
    "      redis.call('INCR', k[2])\n"
    "      redis.call('PEXPIRE', k[2], a[4])\n"
    "    end\n"
    "    if a[6] ~= '' then\n"
    "      redis.call('INCRBYFLOAT', k[3], a[5])\n"
    "      redis.call('PEXPIRE', k[3], a[7])\n"
    "    end\n"
    "    redis.call('SET', k[1], a[1], 'PX', a[2])\n"
    "  end\n"
    "  return {verdict, '', tostring(used), tostring(spent)}\n"
    "end\n"
    "local out = {}\n"
    "for i = 0, #KEYS / 3 - 1 do\n"
    "  out[i + 1] = admit({KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]},\n"
    "                     {unpack(ARGV, i * 9 + 1, i * 9 + 9)})\n"
    "end\n"
    "return out\n";

#define KEYS 3
#define ARGS 9
/* Room for a key: a prefix, two identifiers (LF_ID_MAX each) and their
 * lengths. A key that would not fit is refused, never truncated. */
#define SLOT 1100
#define VSLOT (LF_ID_MAX + 40) /* an action id, or a number */

/* Fixed windows: the window's index is part of the key, so a window's
 * counter disappears with its TTL and the next starts from zero. */
static int fill(const char *p, const lf_admit_t *a, char (*k)[SLOT],
                char (*v)[VSLOT]) {
  const lf_catalog_action_t *d = a->def;
  long long rw = d->rate_count ? a->now_ms / d->rate_window_ms : 0;
  long long bw = d->budget_arg ? a->now_ms / d->budget_window_ms : 0;
  /* Each variable part after its length: tenant "a:b" and key "c" can
   * never share a key with tenant "a" and key "b:c". */
  int len[3];
  len[0] = snprintf(k[0], SLOT, "%sidem:%zu:%s:%s", p, strlen(a->tenant),
                    a->tenant, a->key);
  len[1] = snprintf(k[1], SLOT, "%srate:%zu:%s:%zu:%s:%lld", p,
                    strlen(a->tenant), a->tenant, strlen(d->name), d->name, rw);
  len[2] = snprintf(k[2], SLOT, "%sbudget:%zu:%s:%zu:%s:%lld", p,
                    strlen(a->tenant), a->tenant, strlen(d->name), d->name, bw);
  if (len[0] >= SLOT || len[1] >= SLOT || len[2] >= SLOT ||
      strlen(a->action_id) >= VSLOT)
    return -1;
  snprintf(v[0], VSLOT, "%s", a->action_id);
  snprintf(v[1], VSLOT, "%lld", (long long)a->ttl_ms);
  snprintf(v[2], VSLOT, "%lld", (long long)d->rate_count);
  snprintf(v[3], VSLOT, "%lld",
           (long long)(d->rate_count ? d->rate_window_ms : 1));
  snprintf(v[4], VSLOT, "%.17g", d->budget_arg ? a->amount : 0.0);
  if (d->budget_arg)
    snprintf(v[5], VSLOT, "%.17g", d->budget_limit);
  else
    v[5][0] = '\0';
  snprintf(v[6], VSLOT, "%lld",
           (long long)(d->budget_arg ? d->budget_window_ms : 1));
  snprintf(v[7], VSLOT, "%d", a->commit);
  snprintf(v[8], VSLOT, "%d", a->enforce);
  return 0;
}

lf_err_t lf_limits_append(lf_redis_t *r, const lf_admit_t *a, size_t n,
                          char *errstr, size_t errstr_size) {
  size_t argc = 1 + n * (KEYS + ARGS);
  const char **argv = calloc(argc, sizeof(*argv));
  size_t *lens = calloc(argc, sizeof(*lens));
  char(*keys)[SLOT] = calloc(n * KEYS + 1, SLOT);
  char(*vals)[VSLOT] = calloc(n * ARGS + 1, VSLOT);
  char nkeys[24];
  lf_err_t err = LF_OK;
  if (!argv || !lens || !keys || !vals) {
    snprintf(errstr, errstr_size, "out of memory");
    err = LF_ERR_NOMEM;
    goto done;
  }
  snprintf(nkeys, sizeof(nkeys), "%zu", n * KEYS);
  argv[0] = nkeys;
  for (size_t i = 0; i < n; i++) {
    if (fill(lf_redis_prefix(r), &a[i], keys + i * KEYS, vals + i * ARGS)) {
      snprintf(errstr, errstr_size,
               "action %s: its Redis keys would be longer than %d bytes",
               a[i].action_id, SLOT - 1);
      err = LF_ERR_RECORD;
      goto done;
    }
    for (size_t k = 0; k < KEYS; k++)
      argv[1 + i * KEYS + k] = keys[i * KEYS + k];
    for (size_t k = 0; k < ARGS; k++)
      argv[1 + n * KEYS + i * ARGS + k] = vals[i * ARGS + k];
  }
  for (size_t i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  err = lf_redis_append_script_argv(r, script, (int)argc, argv, lens, errstr,
                                    errstr_size);
done:
  free(argv);
  free(lens);
  free(keys);
  free(vals);
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
