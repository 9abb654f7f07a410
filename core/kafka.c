#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  lf_log(lf_log_level_from_syslog(level), rd_kafka_name(rk), "[%s] %s", fac,
         buf);
}

static lf_err_t set_one(void *opaque, const char *key, const char *value,
                        char *errstr, size_t errstr_size) {
  char why[512];
  if (rd_kafka_conf_set(opaque, key, value, why, sizeof(why)) !=
      RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "kafka.%s: %s", key, why);
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

lf_err_t lf_kafka_conf_check(const lf_conf_t *conf, char *errstr,
                             size_t errstr_size) {
  if (*lf_conf_get(conf, "kafka.bootstrap.servers"))
    return LF_OK;
  snprintf(errstr, errstr_size,
           "kafka.bootstrap.servers is not set (use -b HOST:PORT)");
  return LF_ERR_INVALID;
}

static rd_kafka_conf_t *base_conf(const lf_conf_t *conf, lf_kafka_role_t role,
                                  const char *client_id, char *errstr,
                                  size_t errstr_size) {
  if (lf_kafka_conf_check(conf, errstr, errstr_size))
    return NULL;
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  if (!kc) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  rd_kafka_conf_set_log_cb(kc, log_cb);
  if (set_one(kc, "client.id", client_id, errstr, errstr_size) ||
      lf_conf_kafka_foreach(conf, role, set_one, kc, errstr, errstr_size)) {
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  return kc;
}

/* Operators watch rebalances: say what this member got or lost. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  const lf_kafka_watch_t *watch = opaque;
  int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  int assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  lf_info(rd_kafka_name(rk), "rebalance: %s %d partition(s)",
          assign ? "assigned" : "revoked", parts->cnt);
  if (watch && watch->on_rebalance)
    watch->on_rebalance(watch->arg, assign, parts->cnt);
  rd_kafka_error_t *e = NULL;
  rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (cooperative)
    e = assign ? rd_kafka_incremental_assign(rk, parts)
               : rd_kafka_incremental_unassign(rk, parts);
  else
    kerr = rd_kafka_assign(rk, assign ? parts : NULL);
  if (e) {
    lf_error(rd_kafka_name(rk), "rebalance: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  } else if (kerr) {
    lf_error(rd_kafka_name(rk), "rebalance: %s", rd_kafka_err2str(kerr));
  }
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
  const lf_kafka_watch_t *watch = opaque;
  (void)rk;
  if (watch && watch->on_stats)
    watch->on_stats(watch->arg, json, len);
  return 0; /* librdkafka frees json */
}

rd_kafka_t *lf_kafka_consumer_new(const lf_conf_t *conf, const char *group_id,
                                  const char *client_id, char *errstr,
                                  size_t errstr_size) {
  return lf_kafka_consumer_new_watched(conf, group_id, client_id, NULL, errstr,
                                       errstr_size);
}

rd_kafka_t *lf_kafka_consumer_new_watched(const lf_conf_t *conf,
                                          const char *group_id,
                                          const char *client_id,
                                          const lf_kafka_watch_t *watch,
                                          char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *kc =
      base_conf(conf, LF_KAFKA_CONSUMER, client_id, errstr, errstr_size);
  if (!kc)
    return NULL;
  /* Set after the pass-through: committing is the worker loop's job. */
  if (set_one(kc, "group.id", group_id, errstr, errstr_size) ||
      set_one(kc, "enable.auto.commit", "false", errstr, errstr_size) ||
      set_one(kc, "enable.auto.offset.store", "false", errstr, errstr_size)) {
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
  if (watch && watch->on_stats)
    rd_kafka_conf_set_stats_cb(kc, stats_cb);
  rd_kafka_conf_set_opaque(kc, (void *)watch);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
  if (!rk) {
    rd_kafka_conf_destroy(kc);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

rd_kafka_t *lf_kafka_producer_new(const lf_conf_t *conf, const char *client_id,
                                  void (*dr_cb)(rd_kafka_t *,
                                                const rd_kafka_message_t *,
                                                void *),
                                  char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *kc =
      base_conf(conf, LF_KAFKA_PRODUCER, client_id, errstr, errstr_size);
  if (!kc)
    return NULL;
  if (dr_cb)
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
  if (!rk)
    rd_kafka_conf_destroy(kc);
  return rk;
}

const char *lf_kafka_topic_name(const lf_conf_t *conf, lf_topic_t topic,
                                char *buf, size_t size) {
  snprintf(buf, size, "%s%s", lf_conf_get(conf, "topic.prefix"),
           lf_proto_topic_suffix(topic));
  return buf;
}

lf_err_t lf_kafka_topic_warm(rd_kafka_t *rk, const char *topic, int timeout_ms,
                             char *errstr, size_t errstr_size) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t kerr =
      rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms)
          : rd_kafka_last_error();
  if (!kerr && (md->topic_cnt != 1 || md->topics[0].err))
    kerr = md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  if (md)
    rd_kafka_metadata_destroy(md);
  if (rkt)
    rd_kafka_topic_destroy(rkt);
  if (kerr) {
    snprintf(errstr, errstr_size, "topic %s: %s", topic,
             rd_kafka_err2str(kerr));
    return LF_ERR_KAFKA;
  }
  return LF_OK;
}

rd_kafka_AdminOptions_t *lf_kafka_admin_options(rd_kafka_t *rk,
                                                rd_kafka_admin_op_t op,
                                                int timeout_ms, char *errstr,
                                                size_t errstr_size) {
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
  if (!o) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, errstr,
                                                errstr_size) ||
      (op == RD_KAFKA_ADMIN_OP_CREATETOPICS &&
       rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, errstr,
                                                   errstr_size))) {
    rd_kafka_AdminOptions_destroy(o);
    return NULL;
  }
  return o;
}

lf_err_t lf_kafka_assign_all(rd_kafka_t *consumer, const char *const *topics,
                             size_t ntopics, int from_beginning, int timeout_ms,
                             char *errstr, size_t errstr_size) {
  lf_err_t err = LF_OK;
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_partition_list_t *parts =
      rd_kafka_topic_partition_list_new(16);
  if (!parts) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  for (size_t t = 0; t < ntopics; t++) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(consumer, topics[t], NULL);
    rd_kafka_resp_err_t kerr =
        rkt ? rd_kafka_metadata(consumer, 0, rkt, &md, timeout_ms)
            : rd_kafka_last_error();
    if (rkt)
      rd_kafka_topic_destroy(rkt);
    if (kerr || md->topic_cnt != 1 || md->topics[0].err) {
      snprintf(errstr, errstr_size, "topic %s: %s", topics[t],
               rd_kafka_err2str(kerr ? kerr : md->topics[0].err));
      err = LF_ERR_KAFKA;
      goto done;
    }
    for (int p = 0; p < md->topics[0].partition_cnt; p++) {
      int32_t id = md->topics[0].partitions[p].id;
      int64_t lo = 0, hi = 0;
      if (!from_beginning &&
          (kerr = rd_kafka_query_watermark_offsets(consumer, topics[t], id, &lo,
                                                   &hi, timeout_ms))) {
        snprintf(errstr, errstr_size, "%s [%d] watermarks: %s", topics[t], id,
                 rd_kafka_err2str(kerr));
        err = LF_ERR_KAFKA;
        goto done;
      }
      rd_kafka_topic_partition_list_add(parts, topics[t], id)->offset =
          from_beginning ? RD_KAFKA_OFFSET_BEGINNING : hi;
    }
    rd_kafka_metadata_destroy(md);
    md = NULL;
  }
  rd_kafka_resp_err_t kerr = rd_kafka_assign(consumer, parts);
  if (kerr) {
    snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(kerr));
    err = LF_ERR_KAFKA;
  }
done:
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_partition_list_destroy(parts);
  return err;
}

lf_err_t lf_kafka_produce_bytes(rd_kafka_t *producer, const char *topic,
                                const char *key, uint8_t *buf, size_t len,
                                const char *type, const char *parent_tp,
                                size_t parent_tp_len, void *msg_opaque,
                                char *errstr, size_t errstr_size) {
  char tp[LF_TRACEPARENT_LEN + 1];
  lf_trace_child(parent_tp, parent_tp_len, tp);
  rd_kafka_resp_err_t kerr;
  for (;;) {
    kerr = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE(buf, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADER(LF_HDR_TRACEPARENT, tp, LF_TRACEPARENT_LEN),
        RD_KAFKA_V_HEADER(LF_HDR_TYPE, type, -1), RD_KAFKA_V_OPAQUE(msg_opaque),
        RD_KAFKA_V_END);
    if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      break;
    rd_kafka_poll(producer, 10); /* serve delivery reports to make room */
  }
  if (kerr && lf_kafka_err_is_record(kerr)) {
    snprintf(errstr, errstr_size,
             "a %zu-byte record for %s is larger than the brokers accept "
             "(message.max.bytes %zu)",
             len, topic, lf_kafka_max_record(producer));
    return LF_ERR_RECORD;
  }
  if (kerr) {
    snprintf(errstr, errstr_size, "produce to %s: %s", topic,
             rd_kafka_err2str(kerr));
    return LF_ERR_KAFKA;
  }
  return LF_OK;
}

int lf_kafka_err_is_record(rd_kafka_resp_err_t err) {
  switch (err) {
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_INVALID_MSG:
  case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
  case RD_KAFKA_RESP_ERR_INVALID_RECORD:
  case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    return 1;
  default:
    return 0;
  }
}

size_t lf_kafka_max_record(rd_kafka_t *producer) {
  char v[32];
  size_t size = sizeof(v);
  if (rd_kafka_conf_get(rd_kafka_conf(producer), "message.max.bytes", v,
                        &size) != RD_KAFKA_CONF_OK)
    return 1000000;
  return (size_t)strtoull(v, NULL, 10);
}

lf_err_t lf_kafka_produce(rd_kafka_t *producer, const char *topic,
                          const char *key, const ProtobufCMessage *msg,
                          const char *parent_tp, size_t parent_tp_len,
                          void *msg_opaque, char *errstr, size_t errstr_size) {
  size_t len;
  uint8_t *buf = lf_proto_encode(msg, &len);
  if (!buf) {
    snprintf(errstr, errstr_size, "out of memory encoding %s",
             msg->descriptor->name);
    return LF_ERR_NOMEM;
  }
  lf_err_t err = lf_kafka_produce_bytes(
      producer, topic, key, buf, len, msg->descriptor->name, parent_tp,
      parent_tp_len, msg_opaque, errstr, errstr_size);
  if (err)
    free(buf);
  return err;
}
