/* Every lamfleet property, its default and why. `-X list` and
 * CONFIGURATION.md are generated from this table. */
#include "props.h"

#include "config.h"

#define C LF_KAFKA_CONSUMER
#define P LF_KAFKA_PRODUCER
#define I64 INT64_MAX

const lf_prop_t lf_props[] = {
    /* Logging */
    {"log.level", LF_PROP_ENUM, "info", 0, 0, "debug|info|warn|error", 0,
     "Lowest level logged to stderr."},
    {"log.format", LF_PROP_ENUM, "text", 0, 0, "text|json", 0,
     "One line per event: human text, or one JSON object."},

    /* Kafka: lamfleet's deliberate defaults, all overridable. */
    {"kafka.bootstrap.servers", LF_PROP_STR, "", 0, 0, NULL, C | P,
     "Kafka bootstrap servers (also -b). Required by the workers."},
    {"kafka.fetch.wait.max.ms", LF_PROP_INT, "5", 0, 60000, NULL, C,
     "A goal crosses several hops per step: librdkafka's 500 ms default "
     "would cost about 250 ms per hop for a lone record."},
    {"kafka.linger.ms", LF_PROP_INT, "1", 0, 60000, NULL, P,
     "How long produced records wait to be sent. Workers wait for a "
     "batch's acknowledgements by polling, not by rd_kafka_flush() (which "
     "costs at least 10 ms a call in librdkafka 2.0), so this is the delay "
     "a batch's outputs pay: a batch's records, produced together, still "
     "travel in one request per partition."},
    {"kafka.queued.max.messages.kbytes", LF_PROP_INT, "16384", 1, 2097151, NULL,
     C,
     "Records a consumer fetches ahead, at most (KiB): a worker holding "
     "off at its cap keeps at most this much waiting in memory "
     "(librdkafka's default is 64 MiB)."},
    {"kafka.queued.min.messages", LF_PROP_INT, "100000", 1, 10000000, NULL, C,
     "Records a consumer tries to keep fetched ahead (librdkafka counts "
     "the consumer's whole queue). Reaching it stops fetching for about a "
     "second, so it must hold more than a second of work: at 10000 a "
     "backlog drained in whole-second steps. Fetch-ahead memory is bounded "
     "by kafka.queued.max.messages.kbytes."},
    {"kafka.statistics.interval.ms", LF_PROP_INT, "5000", 0, 86400000, NULL, C,
     "How often a worker's consumer reports its statistics, from which "
     "/metrics shows the lag of every partition it owns (0: none)."},
    {"kafka.enable.idempotence", LF_PROP_BOOL, "true", 0, 0, NULL, P,
     "Idempotent producer: no duplicates or reordering from retries."},
    {"kafka.acks", LF_PROP_STR, "all", 0, 0, NULL, P,
     "A batch's offsets are committed only after all its outputs are "
     "acknowledged by every in-sync replica."},
    {"kafka.auto.offset.reset", LF_PROP_ENUM, "earliest", 0, 0,
     "earliest|latest|error", C,
     "Where a new consumer group starts: earliest, so no goal is skipped."},
    {"kafka.socket.nagle.disable", LF_PROP_BOOL, "true", 0, 0, NULL, C | P,
     "Send small requests at once."},

    /* Topics */
    {"topic.prefix", LF_PROP_STR, "lamfleet.", 0, 0, NULL, 0,
     "Prefix of every fleet topic (goals, actions.proposed, "
     "actions.approved, observations, results, dlq, approvals.pending, "
     "approvals.decisions)."},

    /* Redis */
    {"redis.url", LF_PROP_STR, "redis://127.0.0.1:6379", 0, 0, NULL, 0,
     "redis://[[user]:password@]host[:port][/db] (user and password "
     "percent-encoded, an ACL user as AUTH user password; IPv6 hosts in "
     "brackets), rediss://... for TLS (redis.tls.*) or "
     "unix:///path/to/socket. Shown with its password masked."},
    {"redis.password", LF_PROP_STR, "", 0, 0, NULL, 0,
     "AUTH password (overrides one in redis.url)."},
    {"redis.connect.timeout.ms", LF_PROP_INT, "2000", 1, 600000, NULL, 0,
     "Connection timeout."},
    {"redis.timeout.ms", LF_PROP_INT, "2000", 1, 600000, NULL, 0,
     "Command timeout; a timed-out connection is dropped and retried."},
    {"redis.key.prefix", LF_PROP_STR, "lamfleet:", 0, 0, NULL, 0,
     "Prefix of every Redis key lamfleet writes."},
    {"redis.tls.ca.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "rediss:// only: PEM file of the CAs the server's certificate must "
     "chain to (empty: the system's CAs)."},
    {"redis.tls.cert.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "rediss:// only: client certificate (PEM chain), for servers with "
     "tls-auth-clients; with redis.tls.key.file."},
    {"redis.tls.key.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "rediss:// only: the client certificate's private key (PEM)."},
    {"redis.tls.server.name", LF_PROP_STR, "", 0, 0, NULL, 0,
     "rediss:// only: the name sent as SNI and verified in the server's "
     "certificate (empty: the URL's host; an IP address is verified "
     "against the certificate's IP addresses)."},
    {"redis.tls.verify", LF_PROP_BOOL, "true", 0, 0, NULL, 0,
     "rediss:// only: verify the server's certificate and name. false "
     "encrypts without knowing who answers: for tests only."},

    /* Metrics and probes */
    {"metrics.port", LF_PROP_INT, "9464", -1, 65535, NULL, 0,
     "Port of /metrics (Prometheus), /healthz and /readyz; 0: none, -1: "
     "any free port (said in the log)."},
    {"metrics.address", LF_PROP_STR, "0.0.0.0", 0, 0, NULL, 0,
     "IPv4 address the metrics port listens on."},

    /* The shared worker loop */
    {"worker.id", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Identity in records and logs; default <kind>-<hostname>-<pid>."},
    {"worker.batch.size", LF_PROP_INT, "256", 1, 100000, NULL, 0,
     "Records handled (and their Redis work pipelined) per batch."},
    {"worker.poll.timeout.ms", LF_PROP_INT, "100", 1, 10000, NULL, 0,
     "Longest wait for the first record of a batch."},
    {"worker.tick.ms", LF_PROP_INT, "1000", 10, 3600000, NULL, 0,
     "How often a worker does its periodic work between batches (the "
     "guard expires approvals then)."},
    {"worker.retry.backoff.ms", LF_PROP_INT, "100", 1, 60000, NULL, 0,
     "First wait before a failed batch is retried (doubles each time)."},
    {"worker.retry.backoff.max.ms", LF_PROP_INT, "5000", 1, 600000, NULL, 0,
     "Longest wait between retries of a failed batch."},
    {"worker.flush.timeout.ms", LF_PROP_INT, "30000", 100, 600000, NULL, 0,
     "Longest wait for a batch's outputs to be acknowledged."},
    {"worker.drain.timeout.ms", LF_PROP_INT, "20000", 0, 600000, NULL, 0,
     "On SIGTERM, how long work in flight (HTTP calls) may take to finish "
     "before the worker leaves its group; keep it inside the container's "
     "grace period. What is left is handled again by the next owner."},

    /* Planner */
    {"planner.group.id", LF_PROP_STR, "lamfleet-planner", 0, 0, NULL, 0,
     "Consumer group of the planners."},
    {"planner.backend", LF_PROP_ENUM, "playbook", 0, 0, "playbook|openai", 0,
     "How goals become actions: playbook (offline, deterministic) or "
     "openai (an LLM behind an OpenAI-compatible chat completions API)."},
    {"planner.playbook", LF_PROP_STR, "${examples}/playbook.json", 0, 0, NULL,
     0, "Playbook file of the playbook backend."},
    {"planner.catalog", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Catalog whose actions the openai backend offers the model as tools "
     "(default: guard.catalog)."},
    {"planner.max.steps", LF_PROP_INT, "20", 1, 10000, NULL, 0,
     "Step limit of a goal (a step: the actions proposed together, then "
     "their observations); a goal's max_steps may only lower it."},
    {"planner.max.llm.calls", LF_PROP_INT, "50", 1, 100000, NULL, 0,
     "Model calls per goal; a goal's max_llm_calls may only lower it."},
    {"planner.max.tokens", LF_PROP_INT, "0", 0, I64, NULL, 0,
     "Total tokens (the API's usage) per goal; a goal's max_tokens may "
     "only lower it; 0: no limit (a goal's own max_tokens then holds)."},
    {"planner.max.inflight", LF_PROP_INT, "1000", 1, 1000000, NULL, 0,
     "Model calls in flight per planner process; at the cap it pauses "
     "fetching (it keeps polling, so it stays in its group)."},
    {"planner.lease.ms", LF_PROP_INT, "30000", 1000, I64, NULL, 0,
     "A goal waiting on a model call that no live planner renews for this "
     "long (its planner died) is taken over by another planner."},
    {"planner.state.ttl.s", LF_PROP_INT, "604800", 60, I64, NULL, 0,
     "How long a goal's state is kept in Redis after its last change."},
    {"planner.openai.base.url", LF_PROP_STR, "https://api.openai.com/v1", 0, 0,
     NULL, 0,
     "Base URL of the chat completions API: a hosted one, or a local vLLM "
     "(http://127.0.0.1:8000/v1), llama.cpp server or Ollama "
     "(http://127.0.0.1:11434/v1)."},
    {"planner.openai.model", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Model name sent with every request (required by the openai backend)."},
    {"planner.openai.api.key.env", LF_PROP_STR, "OPENAI_API_KEY", 0, 0, NULL, 0,
     "Environment variable holding the API key (may be unset for local "
     "servers). The key is never logged."},
    {"planner.openai.api.key.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "File holding the API key (wins over the environment variable)."},
    {"planner.openai.extra", LF_PROP_STR, "", 0, 0, NULL, 0,
     "JSON object of extra request fields, e.g. "
     "{\"temperature\":0,\"parallel_tool_calls\":true}; never overrides "
     "model, messages or tools."},
    {"planner.openai.system.prompt", LF_PROP_STR, "", 0, 0, NULL, 0,
     "System message opening every conversation (default: a built-in "
     "prompt explaining tools, the guard's rejections and final answers)."},
    {"planner.openai.timeout.ms", LF_PROP_INT, "120000", 100, 3600000, NULL, 0,
     "Timeout of one HTTP attempt."},
    {"planner.openai.retries", LF_PROP_INT, "4", 0, 100, NULL, 0,
     "Retries of a call after 429, 5xx or a transport error."},
    {"planner.openai.backoff.ms", LF_PROP_INT, "500", 1, 600000, NULL, 0,
     "First retry delay (doubles, with full jitter; Retry-After wins)."},
    {"planner.openai.backoff.max.ms", LF_PROP_INT, "30000", 1, 3600000, NULL, 0,
     "Longest retry delay."},

    /* Guard */
    {"guard.group.id", LF_PROP_STR, "lamfleet-guard", 0, 0, NULL, 0,
     "Consumer group of the guards."},
    {"guard.catalog", LF_PROP_STR, "${examples}/catalog.json", 0, 0, NULL, 0,
     "Catalog of the actions the guard lets through."},
    {"guard.idempotency.ttl.ms", LF_PROP_INT, "86400000", 1000, I64, NULL, 0,
     "How long an idempotency key stays reserved (an action's "
     "x-lamfleet.idempotency_ttl overrides it)."},
    {"guard.approval.ttl.ms", LF_PROP_INT, "3600000", 1000, I64, NULL, 0,
     "How long an action waits for a human's decision before it is "
     "rejected with approval_expired."},

    /* Signing */
    {"signing.keys", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Keys that sign approved actions, as ID:SECRET[,ID:SECRET...] (each "
     "secret at least 32 bytes). Prefer signing.keys.file or the "
     "LAMFLEET_SIGNING_KEYS variable: flags show in process lists."},
    {"signing.keys.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "File of signing keys, one ID:SECRET per line (# comments)."},
    {"signing.key.id", LF_PROP_STR, "", 0, 0, NULL, 0,
     "The key the guard signs with (default: the first loaded); the others "
     "are still accepted when verifying, for rotation."},
    {"observation.keys", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Keys that sign observations, as ID:SECRET[,...] (each at least 32 "
     "bytes): guards and executors sign with observation.key.id, planners "
     "accept only observations signed by one of them. A key set of its own, "
     "so planners hold no key that signs approvals. Prefer "
     "observation.keys.file or LAMFLEET_OBSERVATION_KEYS."},
    {"observation.keys.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "File of observation keys, one ID:SECRET per line (# comments)."},
    {"observation.key.id", LF_PROP_STR, "", 0, 0, NULL, 0,
     "The key guards and executors sign observations with (default: the "
     "first loaded)."},
    {"approvers", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Human approvers the guard accepts decisions from, as "
     "NAME:PUBLIC-KEY-HEX[:GROUP,...][;...] (Ed25519; `lamfleet approvals "
     "keygen NAME` makes a pair). Without any, every decision is refused."},
    {"approvers.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "File of approvers, one NAME:PUBLIC-KEY-HEX[:GROUP,...] per line (# "
     "comments)."},
    {"approver.key", LF_PROP_STR, "", 0, 0, NULL, 0,
     "The approver's own private key, NAME:PRIVATE-KEY-HEX, with which "
     "`lamfleet approvals approve|deny` signs. Prefer approver.key.file or "
     "the LAMFLEET_APPROVER_KEY variable."},
    {"approver.key.file", LF_PROP_STR, "", 0, 0, NULL, 0,
     "File holding the approver's private key (NAME:PRIVATE-KEY-HEX)."},
    {"guard.verdict.ttl.ms", LF_PROP_INT, "3600000", 1000, I64, NULL, 0,
     "How long an approval stays valid: an executor refuses an approved "
     "action after its expiry."},

    /* Executor */
    {"executor.group.id", LF_PROP_STR, "lamfleet-executor", 0, 0, NULL, 0,
     "Consumer group of the executors."},
    {"executor.catalog", LF_PROP_STR, "", 0, 0, NULL, 0,
     "Catalog of the actions the executor runs (empty: guard.catalog). "
     "An approved action missing from it is refused."},
    {"executor.lease.ms", LF_PROP_INT, "15000", 300, I64, NULL, 0,
     "How long an executor's claim on an action lasts unless renewed; it is "
     "renewed every third of it while the action runs, so another executor "
     "takes an action over this long after its executor died, never while "
     "it lives."},
    {"executor.max.inflight", LF_PROP_INT, "512", 1, 1000000, NULL, 0,
     "Actions in flight per executor process (HTTP calls, and runs waited "
     "for); at the cap it pauses fetching (it keeps polling, so it stays "
     "in its group)."},
    {"executor.busy.poll.ms", LF_PROP_INT, "200", 10, 600000, NULL, 0,
     "How often an action running at another executor is looked at again "
     "(done: its observation is republished; lease expired: taken over)."},
    {"executor.http.max.header.bytes", LF_PROP_INT, "65536", 1024, 16777216,
     NULL, 0, "Largest response headers an HTTP action accepts."},
    {"executor.result.ttl.s", LF_PROP_INT, "604800", 60, I64, NULL, 0,
     "How long an executed action's observation is kept for re-delivery."},
    {"executor.sleep.max.ms", LF_PROP_INT, "60000", 0, 3600000, NULL, 0,
     "Upper bound of the built-in sleep_ms action."},

    /* Embedded stack (lamfleet dev / demo) */
    {"dev.brokers", LF_PROP_INT, "3", 1, 16, NULL, 0,
     "Brokers of the embedded mock Kafka cluster."},
    {"dev.partitions", LF_PROP_INT, "6", 1, 1024, NULL, 0,
     "Partitions of each topic the embedded stack creates."},
    {"dev.redis.server", LF_PROP_STR, "redis-server", 0, 0, NULL, 0,
     "redis-server program the embedded stack starts unless redis.url is "
     "given explicitly."},
    {"dev.goals", LF_PROP_STR, "${examples}/goals.json", 0, 0, NULL, 0,
     "Sample goals `lamfleet demo` runs."},
};

const size_t lf_props_cnt = sizeof(lf_props) / sizeof(lf_props[0]);
