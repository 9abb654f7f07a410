/* A real OpenAI-compatible HTTP server on loopback for the planner's tests,
 * scripted per test: each POST /v1/chat/completions takes the next scripted
 * answer (status, body, delay, Retry-After) and is recorded (path, body,
 * Authorization header) for the test to assert on. */
#ifndef LF_LLM_SERVER_H
#define LF_LLM_SERVER_H

#include <stddef.h>

typedef struct lf_llm_server lf_llm_server_t;

typedef struct lf_llm_request {
  char *path, *body, *authorization;
} lf_llm_request_t;

lf_llm_server_t *lf_llm_server_start(void);
void lf_llm_server_stop(lf_llm_server_t *s);
/* "http://127.0.0.1:PORT/v1" */
const char *lf_llm_server_url(const lf_llm_server_t *s);

/* Queues an answer. retry_after may be NULL. With nothing queued the
 * server answers 500 {"error": "no scripted response"}. */
void lf_llm_server_push(lf_llm_server_t *s, int status, const char *body,
                        int delay_ms, const char *retry_after);
/* A chat completion whose message is a final answer. */
void lf_llm_server_push_answer(lf_llm_server_t *s, const char *content);
/* A chat completion calling one tool (arguments: JSON text). */
void lf_llm_server_push_call(lf_llm_server_t *s, const char *id,
                             const char *name, const char *arguments);

/* Requests received so far (a snapshot: copy, then free with
 * lf_llm_requests_free). */
size_t lf_llm_server_requests(lf_llm_server_t *s, lf_llm_request_t **out);
void lf_llm_requests_free(lf_llm_request_t *r, size_t n);

#endif
