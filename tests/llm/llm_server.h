/* A real OpenAI-compatible HTTP server on loopback for the planner's tests
 * and benchmark. Each POST /v1/chat/completions takes the next scripted
 * answer (status, body, delay, Retry-After); with the script empty it
 * answers as a tiny agent when one is set (see lf_llm_server_agent), else
 * 500. Requests are recorded (path, body, Authorization, arrival time) for
 * the test to assert on. Slow answers park their connection rather than a
 * thread, so thousands can be pending at once. Failures to set it up abort
 * with a message: it is test equipment. */
#ifndef LF_LLM_SERVER_H
#define LF_LLM_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lf_llm_server lf_llm_server_t;

typedef struct lf_llm_request {
  char *path, *body, *authorization, *idempotency_key;
  int64_t at_ms; /* monotonic, when the request had fully arrived */
} lf_llm_request_t;

lf_llm_server_t *lf_llm_server_start(void);
void lf_llm_server_stop(lf_llm_server_t *s);
/* "http://127.0.0.1:PORT/v1" */
const char *lf_llm_server_url(const lf_llm_server_t *s);

/* Queues an answer. retry_after may be NULL. */
void lf_llm_server_push(lf_llm_server_t *s, int status, const char *body,
                        int delay_ms, const char *retry_after);
/* A 302 to location. */
void lf_llm_server_push_redirect(lf_llm_server_t *s, const char *location);
/* A 200 whose body stops after partial: the connection is closed
 * mid-response. */
void lf_llm_server_push_hangup(lf_llm_server_t *s, const char *partial);
/* A chat completion whose message is a final answer. */
void lf_llm_server_push_answer(lf_llm_server_t *s, const char *content);
/* A chat completion calling one tool (arguments: JSON text). */
void lf_llm_server_push_call(lf_llm_server_t *s, const char *id,
                             const char *name, const char *arguments);
/* A chat completion calling n tools at once. */
void lf_llm_server_push_calls(lf_llm_server_t *s, size_t n,
                              const char *const *ids, const char *const *names,
                              const char *const *arguments);

/* With nothing scripted, answer every conversation after delay_ms: while
 * it holds fewer than `rounds` tool messages, call `tool` with
 * {"<arg>": "<the user's text>"}; then answer "done: <last tool result>". */
void lf_llm_server_agent(lf_llm_server_t *s, int delay_ms, int rounds,
                         const char *tool, const char *arg);

/* Requests received so far (at most the first 1024, a copy: free with
 * lf_llm_requests_free). */
size_t lf_llm_server_requests(lf_llm_server_t *s, lf_llm_request_t **out);
void lf_llm_requests_free(lf_llm_request_t *r, size_t n);

/* How many requests arrived in all, and the most that were waiting for
 * their answer at the same time. */
uint64_t lf_llm_server_total(lf_llm_server_t *s);
size_t lf_llm_server_pending(lf_llm_server_t *s); /* waiting now */
size_t lf_llm_server_max_pending(lf_llm_server_t *s);

#endif
