#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* KEYS: goal hash, await set. ARGV: expected version, state, ttl (s),
 * goal id, await (see lf_goal_slot_t). Returns the new version, or -1
 * when refused. */
static const char save_script[] =
    "local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')\n"
    "if v ~= tonumber(ARGV[1]) then return -1 end\n"
    "redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', v + 1)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "if tonumber(ARGV[5]) > 0 then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])\n"
    "elseif tonumber(ARGV[5]) < 0 then\n"
    "  redis.call('ZREM', KEYS[2], ARGV[4])\n"
    "end\n"
    "return v + 1\n";

static const char release_script[] =
    "if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) ==\n"
    "   tonumber(ARGV[2]) then\n"
    "  return redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "end\n"
    "return 0\n";

static const char claim_script[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "                       'LIMIT', 0, ARGV[3])\n"
    "for _, id in ipairs(due) do\n"
    "  redis.call('ZADD', KEYS[1], ARGV[2], id)\n"
    "end\n"
    "return due\n";

static lf_err_t nomem(char *errstr, size_t errstr_size) {
  snprintf(errstr, errstr_size, "out of memory");
  return LF_ERR_NOMEM;
}

/* Reads n replies, handing each to fn; drains the rest after a failure. */
static lf_err_t replies(lf_redis_t *r, size_t n,
                        lf_err_t (*fn)(void *arg, size_t i, redisReply *rep),
                        void *arg, char *errstr, size_t errstr_size) {
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++) {
    redisReply *rep;
    if (!(err = lf_redis_reply(r, &rep, errstr, errstr_size))) {
      err = fn(arg, i, rep);
      if (err)
        snprintf(errstr, errstr_size, "unexpected reply from Redis");
      freeReplyObject(rep);
    }
  }
  if (err)
    lf_redis_discard(r);
  return err;
}

static lf_err_t on_load(void *arg, size_t i, redisReply *rep) {
  lf_goal_slot_t *s = &((lf_goal_slot_t *)arg)[i];
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
    return LF_ERR_REDIS_REPLY;
  redisReply *st = rep->element[0], *v = rep->element[1];
  if (st->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
    return LF_OK; /* no such goal */
  s->version = strtoll(v->str, NULL, 10);
  if (!(s->state = json_loadb(st->str, st->len, 0, NULL)))
    lf_warn("planner", "goal %s: unreadable state in Redis, starting over",
            s->goal_id);
  return LF_OK;
}

lf_err_t lf_goal_store_load(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                            char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(r);
  for (size_t i = 0; i < n; i++) {
    json_decref(slots[i].state);
    slots[i].state = NULL;
    slots[i].version = 0;
    lf_err_t err =
        lf_redis_append(r, errstr, errstr_size, "HMGET %sgoal:%s s v", prefix,
                        slots[i].goal_id);
    if (err) {
      lf_redis_discard(r);
      return err;
    }
  }
  return replies(r, n, on_load, slots, errstr, errstr_size);
}

typedef struct saving {
  lf_goal_slot_t *slots;
  size_t *idx;
} saving_t;

static lf_err_t on_save(void *arg, size_t i, redisReply *rep) {
  saving_t *sv = arg;
  lf_goal_slot_t *s = &sv->slots[sv->idx[i]];
  if (rep->type != REDIS_REPLY_INTEGER)
    return LF_ERR_REDIS_REPLY;
  if (rep->integer < 0) {
    s->conflict = 1;
    lf_debug("planner", "goal %s moved on elsewhere: save refused", s->goal_id);
  } else {
    s->version = rep->integer;
    s->dirty = 0;
  }
  return LF_OK;
}

static lf_err_t append_save(lf_redis_t *r, const lf_goal_slot_t *s,
                            int64_t ttl_s, char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(r);
  char *json = json_dumps(s->state, JSON_COMPACT);
  if (!json)
    return nomem(errstr, errstr_size);
  lf_err_t err = lf_redis_append_script(
      r, save_script, errstr, errstr_size,
      "2 %sgoal:%s %splanner:awaiting %lld %s %lld %s %lld", prefix, s->goal_id,
      prefix, (long long)s->version, json, (long long)ttl_s, s->goal_id,
      (long long)s->await);
  free(json);
  return err;
}

lf_err_t lf_goal_store_save(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                            int64_t ttl_s, char *errstr, size_t errstr_size) {
  size_t *idx = malloc((n ? n : 1) * sizeof(*idx)), k = 0;
  lf_err_t err = LF_OK;
  if (!idx)
    return nomem(errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++)
    if (slots[i].dirty && slots[i].state &&
        !(err = append_save(r, &slots[i], ttl_s, errstr, errstr_size)))
      idx[k++] = i;
  if (err)
    lf_redis_discard(r);
  else
    err = replies(r, k, on_save, &(saving_t){slots, idx}, errstr, errstr_size);
  free(idx);
  return err;
}

static lf_err_t on_any(void *arg, size_t i, redisReply *rep) {
  (void)arg;
  (void)i;
  (void)rep;
  return LF_OK;
}

lf_err_t lf_goal_store_release(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                               char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(r);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!slots[i].release || slots[i].await <= 0)
      continue;
    lf_err_t err = lf_redis_append_script(
        r, release_script, errstr, errstr_size, "1 %splanner:awaiting %s %lld",
        prefix, slots[i].goal_id, (long long)slots[i].await);
    if (err) {
      lf_redis_discard(r);
      return err;
    }
    slots[i].release = 0;
    k++;
  }
  return replies(r, k, on_any, NULL, errstr, errstr_size);
}

lf_err_t lf_goal_store_claim(lf_redis_t *r, int64_t now, int64_t lease_ms,
                             size_t max, char ***ids, size_t *n, char *errstr,
                             size_t errstr_size) {
  redisReply *rep;
  *ids = NULL;
  *n = 0;
  lf_redis_discard(r);
  lf_err_t err = lf_redis_append_script(
      r, claim_script, errstr, errstr_size,
      "1 %splanner:awaiting %lld %lld %lld", lf_redis_prefix(r), (long long)now,
      (long long)(now + lease_ms),
      (long long)max); /* hiredis' format has no %zu */
  if (!err)
    err = lf_redis_reply(r, &rep, errstr, errstr_size);
  if (err)
    return err;
  if (rep->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(rep);
    snprintf(errstr, errstr_size, "claim: unexpected reply from Redis");
    return LF_ERR_REDIS_REPLY;
  }
  if (rep->elements && !(*ids = calloc(rep->elements, sizeof(**ids))))
    err = nomem(errstr, errstr_size);
  for (size_t i = 0; !err && i < rep->elements; i++)
    if (rep->element[i]->type == REDIS_REPLY_STRING &&
        !((*ids)[(*n)++] = strdup(rep->element[i]->str)))
      err = nomem(errstr, errstr_size);
  freeReplyObject(rep);
  return err;
}

lf_err_t lf_goal_store_renew(lf_redis_t *r, const char *const *ids, size_t n,
                             int64_t score, char *errstr, size_t errstr_size) {
  char key[512], sc[24];
  if (!n)
    return LF_OK;
  size_t argc = 3 + 2 * n;
  const char **argv = calloc(argc, sizeof(*argv));
  size_t *lens = calloc(argc, sizeof(*lens));
  if (!argv || !lens) {
    free(argv);
    free(lens);
    return nomem(errstr, errstr_size);
  }
  snprintf(key, sizeof(key), "%splanner:awaiting", lf_redis_prefix(r));
  snprintf(sc, sizeof(sc), "%lld", (long long)score);
  argv[0] = "ZADD";
  argv[1] = key;
  argv[2] = "XX"; /* a goal released meanwhile stays out */
  for (size_t i = 0; i < n; i++) {
    argv[3 + 2 * i] = sc;
    argv[4 + 2 * i] = ids[i];
  }
  for (size_t i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  lf_err_t err =
      lf_redis_append_argv(r, (int)argc, argv, lens, errstr, errstr_size);
  free(argv);
  free(lens);
  if (!err)
    err = replies(r, 1, on_any, NULL, errstr, errstr_size);
  else
    lf_redis_discard(r);
  return err;
}

void lf_goal_slots_clear(lf_goal_slot_t *slots, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(slots[i].goal_id);
    json_decref(slots[i].state);
    memset(&slots[i], 0, sizeof(slots[i]));
  }
}
