/* The playbook backend's file: goal patterns (POSIX extended regular
 * expressions, case-insensitive), each with a sequence of actions whose
 * string arguments are templates filled from the goal:
 *   {{0}}..{{9}}  the match and its capture groups
 *   {{goal_id}} {{tenant}} {{text}} {{step}}
 * {
 *   "playbooks": [
 *     {"name": "greet", "match": "^greet (.+)$",
 *      "steps": [{"action": "echo", "arguments": {"message": "hi {{1}}"},
 *                 "idempotency_key": "optional template",
 *                    (default: the goal id and step, so a step runs once
 *                     per goal; a template such as "invoice-{{1}}" makes
 *                     it run once across goals)
 *                 "rationale": "optional"}],
 *      "answer": "greeted {{1}}"}
 *   ]
 * } */
#ifndef LF_PLAYBOOK_H
#define LF_PLAYBOOK_H

#include <jansson.h>

#include "lf_err.h"

typedef struct lf_playbook lf_playbook_t;

/* What templates are filled from. */
typedef struct lf_play_vars {
  const char *goal_id, *tenant, *text;
  const json_t *captures; /* array of strings: {{0}}, {{1}}, ... */
  unsigned step;
} lf_play_vars_t;

/* A rendered step. Free with lf_play_step_clear(). */
typedef struct lf_play_step {
  const char *action; /* owned by the playbook */
  char *arguments_json;
  char *idempotency_key; /* "" when the step gives none */
  char *rationale;
} lf_play_step_t;

lf_playbook_t *lf_playbook_load(const char *path, char *errstr,
                                size_t errstr_size);
lf_playbook_t *lf_playbook_parse(const char *text, const char *origin,
                                 char *errstr, size_t errstr_size);
void lf_playbook_destroy(lf_playbook_t *pb);

/* Index of the first play whose pattern matches text, or -1. *captures
 * receives the match groups (a new JSON array). */
int lf_playbook_match(const lf_playbook_t *pb, const char *text,
                      json_t **captures);
/* Index of the play named name, or -1. */
int lf_playbook_find(const lf_playbook_t *pb, const char *name);
const char *lf_playbook_name(const lf_playbook_t *pb, int play);
unsigned lf_playbook_steps(const lf_playbook_t *pb, int play);

lf_err_t lf_playbook_render_step(const lf_playbook_t *pb, int play,
                                 unsigned step, const lf_play_vars_t *vars,
                                 lf_play_step_t *out);
void lf_play_step_clear(lf_play_step_t *s);
/* The play's final answer (malloc'ed), "" when it has none. */
char *lf_playbook_render_answer(const lf_playbook_t *pb, int play,
                                const lf_play_vars_t *vars);

#endif
