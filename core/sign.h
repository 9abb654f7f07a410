/* Signed approvals: every approved verdict carries an HMAC-SHA256, with
 * the id of the key that made it, over its canonical bytes (action id,
 * goal id, tenant, action name, canonical arguments, idempotency key,
 * catalog version, expiry). Keys come from signing.keys / signing.keys.file
 * (never from the catalog); several may be loaded so that they can be
 * rotated: the guard signs with signing.key.id, a verifier accepts any
 * loaded key. */
#ifndef LF_SIGN_H
#define LF_SIGN_H

#include <jansson.h>

#include "config.h"
#include "lf_proto.h"
#include "util.h"

#define LF_SIGNATURE_LEN 32

typedef struct lf_keyring lf_keyring_t;

/* Loads the keys of conf. An error when there are none, or one is shorter
 * than 32 bytes, or signing.key.id names none of them. */
lf_keyring_t *lf_keyring_new(const lf_conf_t *conf, char *errstr,
                             size_t errstr_size);
/* The same for another key set: set.keys, set.keys.file, set.key.id
 * ("observation": the keys observations are signed with). */
lf_keyring_t *lf_keyring_load(const lf_conf_t *conf, const char *set,
                              char *errstr, size_t errstr_size);
void lf_keyring_destroy(lf_keyring_t *k);
const char *lf_keyring_signer(const lf_keyring_t *k);

/* Signs v: sets signature_key_id and points signature at sig (which must
 * outlive v's use). canon_args: the canonical text of v's arguments
 * (lf_json_canonical), made once by the caller, or NULL to make it here. */
lf_err_t lf_verdict_sign(const lf_keyring_t *k, lf_verdict_t *v,
                         const char *canon_args, uint8_t sig[LF_SIGNATURE_LEN],
                         char *errstr, size_t errstr_size);
/* LF_OK when v carries a valid signature by a loaded key; otherwise
 * LF_ERR_INVALID and why (unsigned, unknown key, mismatch). Expiry is the
 * caller's to check against its clock. */
lf_err_t lf_verdict_verify(const lf_keyring_t *k, const lf_verdict_t *v,
                           char *errstr, size_t errstr_size);

/* Observations are signed by the guards and executors that make them
 * (observation.keys: a key set of its own, so that the planners, which
 * verify them, hold no key that could sign an approval). */
lf_err_t lf_observation_sign(const lf_keyring_t *k, lf_observation_t *o,
                             uint8_t sig[LF_SIGNATURE_LEN], char *errstr,
                             size_t errstr_size);
lf_err_t lf_observation_verify(const lf_keyring_t *k, const lf_observation_t *o,
                               char *errstr, size_t errstr_size);

/* A new random key "dev-XXXXXXXX:<64 hex>" for an embedded stack. */
lf_err_t lf_keyring_random_spec(char *out, size_t size);

/* Length-prefixed fields ("LEN:TEXT\n" each): no field's content can
 * imitate a boundary. The bytes every signature here is made over
 * (malloc'ed; NULL when out of memory). */
char *lf_sign_fields(const char *const *fields, size_t n, size_t *lenp);

/* SHA-256 (hex) of the verdict's signed bytes: the digest a human's
 * decision is bound to. LF_ERR_NOMEM, or LF_ERR_INVALID for arguments
 * that are not JSON. */
lf_err_t lf_verdict_digest(const lf_verdict_t *v,
                           char out[LF_SHA256_HEX_LEN + 1]);

#endif
