/* The OpenAI-compatible chat completions wire format, as the `openai`
 * planner backend speaks it (OpenAI, vLLM, llama.cpp's server, Ollama):
 * the catalog's actions as `tools`, the request body, the assistant's
 * reply (tool calls or a final answer, with token usage), and an
 * observation as the `role: tool` message answering its tool call. Pure
 * functions: the HTTP side lives elsewhere. */
#ifndef LF_OPENAI_H
#define LF_OPENAI_H

#include <jansson.h>

#include "catalog.h"
#include "lf_proto.h"

/* Every catalog action as {"type":"function","function":{"name",
 * "description","parameters"}}, whatever format the catalog used. */
json_t *lf_openai_tools(const lf_catalog_t *cat);

/* {"model", "messages", "tools"?, ...extra}: extra's members (temperature,
 * parallel_tool_calls, ...) are copied in but never override model,
 * messages or tools. NULL when out of memory. */
json_t *lf_openai_request(const char *model, json_t *messages, json_t *tools,
                          const json_t *extra);

typedef struct lf_openai_call {
  char *id, *name;
  char *arguments; /* JSON text, as the model wrote it */
  int valid;       /* arguments parse as a JSON object */
  char error[512]; /* why not, for the model */
} lf_openai_call_t;

typedef struct lf_openai_reply {
  json_t *message; /* the assistant message, to append to the conversation */
  char *content;   /* its text, or NULL */
  lf_openai_call_t *calls;
  size_t ncalls;
  char finish_reason[32];
  long long prompt_tokens, completion_tokens, total_tokens;
} lf_openai_reply_t;

/* Parses a response body. A body that is not a chat completion (not JSON,
 * no choices, a message without content or tool calls) is LF_ERR_INVALID
 * with the reason in errstr; a tool call whose arguments are not a JSON
 * object is returned with valid = 0. Clear with lf_openai_reply_clear(). */
lf_err_t lf_openai_parse_reply(const char *body, size_t len,
                               lf_openai_reply_t *out, char *errstr,
                               size_t errstr_size);
void lf_openai_reply_clear(lf_openai_reply_t *r);

/* The tool message answering tool_call_id with what became of the action:
 * its result, its error, or the guard's reasons (code, path, message), so
 * that a model that invented an argument learns exactly what was wrong. */
json_t *lf_openai_tool_message(const char *tool_call_id,
                               const lf_observation_t *o);

#endif
