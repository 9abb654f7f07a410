#include "runstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: obs, run. ARGV: owner, now (ms), lease (ms). */
static const char claim_script[] =
    "local obs = redis.call('GET', KEYS[1])\n"
    "if obs then return {'done', obs} end\n"
    "local run = redis.call('HMGET', KEYS[2], 'owner', 'until')\n"
    "local now = tonumber(ARGV[2])\n"
    "if run[1] and run[1] ~= ARGV[1] and tonumber(run[2]) > now then\n"
    "  return {'busy', run[1], run[2]}\n"
    "end\n"
    "local fence = redis.call('HINCRBY', KEYS[2], 'fence', 1)\n"
    "redis.call('HSET', KEYS[2], 'owner', ARGV[1], 'until',\n"
    "           tostring(now + tonumber(ARGV[3])))\n"
    "redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 10)\n"
    "local over = (run[1] and run[1] ~= ARGV[1]) and '1' or '0'\n"
    "return {'claimed', tostring(fence), over}\n";

/* KEYS: obs, run. ARGV: fence, observation, ttl (s). A run whose state
 * expired is still ours unless another finished it meanwhile. */
static const char finish_script[] =
    "local f = redis.call('HGET', KEYS[2], 'fence')\n"
    "if (f and f ~= ARGV[1]) or\n"
    "   (not f and redis.call('EXISTS', KEYS[1]) == 1) then\n"
    "  return 'stale'\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 'ok'\n";

/* KEYS: run. ARGV: owner, fence, now (ms), lease (ms). Extends the lease
 * of a run still ours: same owner, same token. */
static const char renew_script[] =
    "local run = redis.call('HMGET', KEYS[1], 'owner', 'fence')\n"
    "if run[1] ~= ARGV[1] or run[2] ~= ARGV[2] then return 'lost' end\n"
    "redis.call('HSET', KEYS[1], 'until',\n"
    "           tostring(tonumber(ARGV[3]) + tonumber(ARGV[4])))\n"
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 10)\n"
    "return 'ok'\n";

static lf_err_t bad_reply(lf_redis_t *r, redisReply *rep, char *errstr,
                          size_t errstr_size) {
  snprintf(errstr, errstr_size, "run state: unexpected reply from Redis");
  freeReplyObject(rep);
  lf_redis_discard(r);
  return LF_ERR_REDIS_REPLY;
}

static lf_err_t read_claim(lf_run_t *run, redisReply *rep) {
  const char *what = rep->element[0]->str;
  if (!strcmp(what, "done")) {
    if (!(run->obs = malloc(rep->element[1]->len + 1)))
      return LF_ERR_NOMEM;
    memcpy(run->obs, rep->element[1]->str, rep->element[1]->len);
    run->obs_len = rep->element[1]->len;
    run->state = LF_RUN_DONE;
  } else if (!strcmp(what, "busy") && rep->elements == 3) {
    snprintf(run->holder, sizeof(run->holder), "%s", rep->element[1]->str);
    run->until_ms = strtoll(rep->element[2]->str, NULL, 10);
    run->state = LF_RUN_BUSY;
  } else if (!strcmp(what, "claimed") && rep->elements == 3) {
    run->fence = strtoll(rep->element[1]->str, NULL, 10);
    run->took_over = rep->element[2]->str[0] == '1';
    run->state = LF_RUN_CLAIMED;
  } else {
    return LF_ERR_REDIS_REPLY;
  }
  return LF_OK;
}

static int well_formed(const redisReply *rep) {
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2)
    return 0;
  for (size_t i = 0; i < rep->elements; i++)
    if (rep->element[i]->type != REDIS_REPLY_STRING)
      return 0;
  return 1;
}

lf_err_t lf_run_claim(lf_redis_t *r, lf_run_t *runs, size_t n,
                      const char *owner, int64_t now_ms, int64_t lease_ms,
                      char *errstr, size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++)
    if (runs[i].key)
      err = lf_redis_append_script(
          r, claim_script, errstr, errstr_size,
          "2 %sobs:%d:%s:%s %srun:%d:%s:%s %s %lld "
          "%lld",
          p, (int)strlen(runs[i].tenant), runs[i].tenant, runs[i].key, p,
          (int)strlen(runs[i].tenant), runs[i].tenant, runs[i].key, owner,
          (long long)now_ms, (long long)lease_ms);
  for (size_t i = 0; i < n && !err; i++) {
    redisReply *rep;
    if (!runs[i].key || (err = lf_redis_reply(r, &rep, errstr, errstr_size)))
      continue;
    if (!well_formed(rep))
      return bad_reply(r, rep, errstr, errstr_size);
    err = read_claim(&runs[i], rep);
    freeReplyObject(rep);
    if (err == LF_ERR_REDIS_REPLY)
      return bad_reply(r, NULL, errstr, errstr_size);
    if (err)
      snprintf(errstr, errstr_size, "out of memory");
  }
  if (err)
    lf_redis_discard(r);
  return err;
}

static int finishable(const lf_run_t *run) {
  return run->state == LF_RUN_CLAIMED && run->obs;
}

/* One status reply per run sent (all, or the finishable ones): the run is
 * stale when it says word. */
static lf_err_t read_stale(lf_redis_t *r, lf_run_t *runs, size_t n,
                           int finishing, const char *word, char *errstr,
                           size_t errstr_size) {
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++) {
    redisReply *rep;
    if ((finishing && !finishable(&runs[i])) ||
        (err = lf_redis_reply(r, &rep, errstr, errstr_size)))
      continue;
    if (rep->type != REDIS_REPLY_STATUS && rep->type != REDIS_REPLY_STRING)
      return bad_reply(r, rep, errstr, errstr_size);
    runs[i].stale = !strcmp(rep->str, word);
    freeReplyObject(rep);
  }
  if (err)
    lf_redis_discard(r);
  return err;
}

lf_err_t lf_run_finish(lf_redis_t *r, lf_run_t *runs, size_t n, int64_t ttl_s,
                       char *errstr, size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  lf_err_t err = LF_OK;
  char fence[24];
  for (size_t i = 0; i < n && !err; i++) {
    if (!finishable(&runs[i]))
      continue;
    snprintf(fence, sizeof(fence), "%lld", (long long)runs[i].fence);
    err = lf_redis_append_script(
        r, finish_script, errstr, errstr_size,
        "2 %sobs:%d:%s:%s %srun:%d:%s:%s %s %b %lld", p,
        (int)strlen(runs[i].tenant), runs[i].tenant, runs[i].key, p,
        (int)strlen(runs[i].tenant), runs[i].tenant, runs[i].key, fence,
        runs[i].obs, runs[i].obs_len, (long long)ttl_s);
  }
  if (err) {
    lf_redis_discard(r);
    return err;
  }
  return read_stale(r, runs, n, 1, "stale", errstr, errstr_size);
}

lf_err_t lf_run_renew(lf_redis_t *r, lf_run_t *runs, size_t n,
                      const char *owner, int64_t now_ms, int64_t lease_ms,
                      char *errstr, size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++)
    err = lf_redis_append_script(r, renew_script, errstr, errstr_size,
                                 "1 %srun:%d:%s:%s %s %lld %lld %lld", p,
                                 (int)strlen(runs[i].tenant), runs[i].tenant,
                                 runs[i].key, owner, (long long)runs[i].fence,
                                 (long long)now_ms, (long long)lease_ms);
  if (err) {
    lf_redis_discard(r);
    return err;
  }
  return read_stale(r, runs, n, 0, "lost", errstr, errstr_size);
}
