#include "approvals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: approval, done, due. ARGV: outcome, action id, done ttl ms. */
static const char claim_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then return {'', ''} end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3])\n"
    "redis.call('ZREM', KEYS[3], ARGV[2])\n"
    "return {redis.call('GET', KEYS[2]), v}\n";

/* The outcome is remembered well past any redelivery of its decision. */
#define DONE_TTL_MS (7LL * 24 * 3600 * 1000)

static lf_verdict_t *decode(const char *data, size_t len, char *errstr,
                            size_t errstr_size) {
  return (lf_verdict_t *)lf_proto_decode(&lamfleet__v1__verdict__descriptor,
                                         data, len, errstr, errstr_size);
}

lf_err_t lf_approvals_hold(lf_redis_t *r, const lf_verdict_t *v,
                           lf_verdict_t **held, char *errstr,
                           size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  size_t len;
  uint8_t *buf = lf_proto_encode(&v->base, &len);
  redisReply *rep = NULL;
  *held = NULL;
  if (!buf) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  /* NX: what a human is shown is never replaced under them */
  long long ttl = (long long)(v->expires_at_ms - v->decided_at_ms) + 60000;
  lf_err_t err = lf_redis_command(r, &rep, errstr, errstr_size,
                                  "SET %sapproval:%s %b NX PX %lld", p,
                                  v->action->action_id, buf, len, ttl);
  int taken = !err && rep->type == REDIS_REPLY_NIL;
  freeReplyObject(rep);
  rep = NULL;
  free(buf);
  if (!err && taken)
    return lf_approvals_get(r, v->action->action_id, held, errstr, errstr_size);
  if (!err)
    err = lf_redis_command(r, &rep, errstr, errstr_size,
                           "ZADD %sapprovals:due %lld %s", p,
                           (long long)v->expires_at_ms, v->action->action_id);
  freeReplyObject(rep);
  return err;
}

/* KEYS: votes. ARGV: approver, ttl ms. The voters so far. */
static const char vote_script[] =
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return redis.call('SORT', KEYS[1], 'ALPHA')\n";

lf_err_t lf_approvals_vote(lf_redis_t *r, const char *action_id,
                           const char *digest, const char *approver,
                           int64_t ttl_ms, lf_approvals_voters_t *voters,
                           char *errstr, size_t errstr_size) {
  redisReply *rep = NULL;
  voters->n = 0;
  lf_err_t err = lf_redis_command(r, &rep, errstr, errstr_size,
                                  "EVAL %s 1 %sapproval-votes:%s:%s %s %lld",
                                  vote_script, lf_redis_prefix(r), action_id,
                                  digest, approver, (long long)ttl_ms);
  if (err)
    return err;
  for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements &&
                     voters->n < LF_APPROVALS_MAX_VOTERS;
       i++)
    if (rep->element[i]->type == REDIS_REPLY_STRING)
      snprintf(voters->names[voters->n++], sizeof(voters->names[0]), "%s",
               rep->element[i]->str);
  if (rep->type != REDIS_REPLY_ARRAY) {
    snprintf(errstr, errstr_size, "approval vote: unexpected reply");
    err = LF_ERR_REDIS_REPLY;
  }
  freeReplyObject(rep);
  return err;
}

lf_err_t lf_approvals_get(lf_redis_t *r, const char *action_id,
                          lf_verdict_t **out, char *errstr,
                          size_t errstr_size) {
  redisReply *rep = NULL;
  *out = NULL;
  lf_err_t err =
      lf_redis_command(r, &rep, errstr, errstr_size, "GET %sapproval:%s",
                       lf_redis_prefix(r), action_id);
  if (!err && rep->type == REDIS_REPLY_STRING &&
      !(*out = decode(rep->str, rep->len, errstr, errstr_size)))
    err = LF_ERR_INVALID;
  freeReplyObject(rep);
  return err;
}

lf_err_t lf_approvals_claim(lf_redis_t *r, const char *action_id,
                            const char *outcome, int *won, lf_verdict_t **out,
                            char *errstr, size_t errstr_size) {
  const char *p = lf_redis_prefix(r);
  redisReply *rep = NULL;
  *won = 0;
  *out = NULL;
  lf_err_t err = lf_redis_command(
      r, &rep, errstr, errstr_size,
      "EVAL %s 3 %sapproval:%s %sapproval-done:%s %sapprovals:due %s %s %lld",
      claim_script, p, action_id, p, action_id, p, outcome, action_id,
      DONE_TTL_MS);
  if (err)
    return err;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
      rep->element[0]->type != REDIS_REPLY_STRING ||
      rep->element[1]->type != REDIS_REPLY_STRING) {
    snprintf(errstr, errstr_size, "approval claim: unexpected reply");
    err = LF_ERR_REDIS_REPLY;
  } else if (rep->element[1]->len) {
    *won = !strcmp(rep->element[0]->str, outcome);
    if (!(*out = decode(rep->element[1]->str, rep->element[1]->len, errstr,
                        errstr_size)))
      err = LF_ERR_INVALID;
  }
  freeReplyObject(rep);
  return err;
}

lf_err_t lf_approvals_due(lf_redis_t *r, int64_t now_ms, char (*ids)[256],
                          size_t max, size_t *n, char *errstr,
                          size_t errstr_size) {
  redisReply *rep = NULL;
  *n = 0;
  lf_err_t err =
      lf_redis_command(r, &rep, errstr, errstr_size,
                       "ZRANGEBYSCORE %sapprovals:due -inf %lld LIMIT 0 %d",
                       lf_redis_prefix(r), (long long)now_ms, (int)max);
  if (err)
    return err;
  for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
    if (rep->element[i]->type == REDIS_REPLY_STRING)
      snprintf(ids[(*n)++], 256, "%s", rep->element[i]->str);
  freeReplyObject(rep);
  return LF_OK;
}

lf_err_t lf_approvals_stats(lf_redis_t *r, long long *count,
                            int64_t *earliest_ms, char *errstr,
                            size_t errstr_size) {
  redisReply *rep = NULL;
  const char *p = lf_redis_prefix(r);
  *count = 0;
  *earliest_ms = 0;
  lf_err_t err =
      lf_redis_append(r, errstr, errstr_size, "ZCARD %sapprovals:due", p);
  if (!err)
    err = lf_redis_append(r, errstr, errstr_size,
                          "ZRANGE %sapprovals:due 0 0 WITHSCORES", p);
  if (!err && !(err = lf_redis_reply(r, &rep, errstr, errstr_size)))
    *count = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
  freeReplyObject(rep);
  rep = NULL;
  if (!err && !(err = lf_redis_reply(r, &rep, errstr, errstr_size)) &&
      rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[1]->type == REDIS_REPLY_STRING)
    *earliest_ms = strtoll(rep->element[1]->str, NULL, 10);
  freeReplyObject(rep);
  if (err)
    lf_redis_discard(r);
  return err;
}

lf_err_t lf_approvals_forget(lf_redis_t *r, const char *action_id, char *errstr,
                             size_t errstr_size) {
  redisReply *rep = NULL;
  lf_err_t err =
      lf_redis_command(r, &rep, errstr, errstr_size, "DEL %sapproval:%s",
                       lf_redis_prefix(r), action_id);
  freeReplyObject(rep);
  return err;
}

lf_err_t lf_approvals_list(lf_redis_t *r,
                           void (*fn)(void *opaque, const lf_verdict_t *v),
                           void *opaque, char *errstr, size_t errstr_size) {
  redisReply *rep = NULL;
  lf_err_t err =
      lf_redis_command(r, &rep, errstr, errstr_size,
                       "ZRANGE %sapprovals:due 0 -1", lf_redis_prefix(r));
  for (size_t i = 0;
       !err && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
    lf_verdict_t *v = NULL;
    if ((err = lf_approvals_get(r, rep->element[i]->str, &v, errstr,
                                errstr_size)))
      break;
    if (v) {
      fn(opaque, v);
      lf_proto_free(&v->base);
    }
  }
  freeReplyObject(rep);
  return err;
}
