#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: idempotency, rate, budget. ARGV: action id, reservation ttl ms,
 * rate count (0: none), rate window ms, amount, budget limit ("": none),
 * budget window ms, commit (1/0), enforce (1/0). */
static const char script[] =
    "local held = redis.call('GET', KEYS[1])\n"
    "if held then\n"
    "  if held == ARGV[1] then return {'own', held, '0', '0'} end\n"
    "  return {'duplicate', held, '0', '0'}\n"
    "end\n"
    "local verdict = 'ok'\n"
    "local rate = tonumber(ARGV[3])\n"
    "local used = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if rate > 0 and used + 1 > rate then verdict = 'rate_limited' end\n"
    "local spent = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "if verdict == 'ok' and ARGV[6] ~= '' and\n"
    "   spent + tonumber(ARGV[5]) > tonumber(ARGV[6]) then\n"
    "  verdict = 'budget_exceeded'\n"
    "end\n"
    "if ARGV[8] == '1' and (verdict == 'ok' or ARGV[9] == '0') then\n"
    "  if rate > 0 then\n"
    "    redis.call('INCR', KEYS[2])\n"
    "    redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "  end\n"
    "  if ARGV[6] ~= '' then\n"
    "    redis.call('INCRBYFLOAT', KEYS[3], ARGV[5])\n"
    "    redis.call('PEXPIRE', KEYS[3], ARGV[7])\n"
    "  end\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "end\n"
    "return {verdict, '', tostring(used), tostring(spent)}\n";

lf_err_t lf_limits_load(lf_redis_t *r, char sha[41], char *errstr,
                        size_t errstr_size) {
  redisReply *rep = NULL;
  lf_err_t err =
      lf_redis_command(r, &rep, errstr, errstr_size, "SCRIPT LOAD %s", script);
  if (err)
    return err;
  if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
    snprintf(errstr, errstr_size, "SCRIPT LOAD: unexpected reply");
    err = LF_ERR_REDIS_REPLY;
  } else {
    memcpy(sha, rep->str, 41);
  }
  freeReplyObject(rep);
  return err;
}

/* Fixed windows: the window's index is part of the key, so a window's
 * counter disappears with its TTL and the next starts from zero. */
lf_err_t lf_limits_append(lf_redis_t *r, const char *sha, const lf_admit_t *a,
                          char *errstr, size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  const lf_catalog_action_t *d = a->def;
  char rate_key[400], budget_key[400], amount[40] = "", limit[40] = "";
  long long rw = d->rate_count ? a->now_ms / d->rate_window_ms : 0;
  long long bw = d->budget_arg ? a->now_ms / d->budget_window_ms : 0;
  snprintf(rate_key, sizeof(rate_key), "%srate:%s:%s:%lld", p, a->tenant,
           d->name, rw);
  snprintf(budget_key, sizeof(budget_key), "%sbudget:%s:%s:%lld", p, a->tenant,
           d->name, bw);
  if (d->budget_arg) {
    snprintf(amount, sizeof(amount), "%.17g", a->amount);
    snprintf(limit, sizeof(limit), "%.17g", d->budget_limit);
  }
  return lf_redis_append(
      r, errstr, errstr_size,
      "EVALSHA %s 3 %sidem:%s:%s %s %s %s %lld %lld %lld %s %s %lld %d %d", sha,
      p, a->tenant, a->key, rate_key, budget_key, a->action_id,
      (long long)a->ttl_ms, (long long)d->rate_count,
      (long long)(d->rate_count ? d->rate_window_ms : 1), amount, limit,
      (long long)(d->budget_arg ? d->budget_window_ms : 1), a->commit,
      a->enforce);
}

lf_err_t lf_limits_reply(lf_redis_t *r, lf_admit_result_t *res, char *errstr,
                         size_t errstr_size) {
  static const char *const names[] = {"ok", "own", "duplicate", "rate_limited",
                                      "budget_exceeded"};
  redisReply *rep = NULL;
  lf_err_t err = lf_redis_reply(r, &rep, errstr, errstr_size);
  if (err)
    return err;
  memset(res, 0, sizeof(*res));
  err = LF_ERR_REDIS_REPLY;
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4) {
    for (int i = 0; i < 5; i++)
      if (rep->element[0]->str && !strcmp(rep->element[0]->str, names[i])) {
        res->status = (lf_admit_status_t)i;
        err = LF_OK;
      }
    snprintf(res->holder, sizeof(res->holder), "%s",
             rep->element[1]->str ? rep->element[1]->str : "");
    res->used =
        strtoll(rep->element[2]->str ? rep->element[2]->str : "0", NULL, 10);
    res->spent =
        strtod(rep->element[3]->str ? rep->element[3]->str : "0", NULL);
  }
  if (err)
    snprintf(errstr, errstr_size, "admission script: unexpected reply");
  freeReplyObject(rep);
  return err;
}
