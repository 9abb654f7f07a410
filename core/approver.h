/* Human approvers and their Ed25519 keys. A decision on a held action is
 * signed by its approver's private key (the `lamfleet approvals` CLI holds
 * it) and verified by the guards against the approvers' public keys, so
 * writing to approvals.decisions is not enough to approve anything.
 *
 *   approvers / approvers.file   NAME:PUBLIC-KEY-HEX[:GROUP,GROUP...]
 *                                (one a line in the file, ';' inline)
 *   approver.key / .key.file     NAME:PRIVATE-KEY-HEX  (CLI side)
 *
 * Keys are raw Ed25519 keys, 32 bytes as 64 hex digits; `lamfleet
 * approvals keygen NAME` makes a pair. */
#ifndef LF_APPROVER_H
#define LF_APPROVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lf_proto.h"

#define LF_APPROVER_SIG_LEN 64

typedef struct lf_approvers lf_approvers_t;

/* The approvers configured (none is fine: every decision is then refused).
 * NULL with errstr naming the file and line of a bad entry. */
lf_approvers_t *lf_approvers_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size);
void lf_approvers_destroy(lf_approvers_t *a); /* accepts NULL */
size_t lf_approvers_count(const lf_approvers_t *a);

/* Checks d's signature by the approver it names. On failure *code is the
 * reason's stable code (decision_unsigned, unknown_approver,
 * bad_signature) and errstr the sentence. */
lf_err_t lf_decision_verify(const lf_approvers_t *a,
                            const lf_approval_decision_t *d, const char **code,
                            char *errstr, size_t errstr_size);

/* Whether approver may decide an action whose catalog names allow[0..n)
 * (approver names, or "group:NAME"); n == 0: any configured approver. */
int lf_approvers_allowed(const lf_approvers_t *a, const char *approver,
                         const char *const *allow, size_t n);

typedef struct lf_approver_key lf_approver_key_t;

/* The private key of approver.key or approver.key.file; NULL with errstr
 * when none is set or it is malformed (never quoting it). */
lf_approver_key_t *lf_approver_key_load(const lf_conf_t *conf, char *errstr,
                                        size_t errstr_size);
void lf_approver_key_destroy(lf_approver_key_t *k); /* accepts NULL */
const char *lf_approver_key_name(const lf_approver_key_t *k);

/* Sets d->approver to the key's name and signs d into sig (which d then
 * points at). */
lf_err_t lf_decision_sign(const lf_approver_key_t *k, lf_approval_decision_t *d,
                          uint8_t sig[LF_APPROVER_SIG_LEN], char *errstr,
                          size_t errstr_size);

/* A new key pair for name: "NAME:PUBLIC-HEX" (for approvers.file) and
 * "NAME:PRIVATE-HEX" (for the approver alone). */
lf_err_t lf_approver_keygen(const char *name, char *pub, size_t pub_size,
                            char *priv, size_t priv_size, char *errstr,
                            size_t errstr_size);

#endif
