#include "sign.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "util.h"

#define MAX_KEYS 16
#define MIN_SECRET 32

typedef struct key {
  char id[64];
  char *secret;
  size_t len;
  /* HMAC-SHA256 keyed once: each MAC copies it (HMAC() fetches and keys
   * the algorithm on every call, twice the time). NULL: HMAC() is used. */
  EVP_MAC_CTX *mac;
} key_t_;

struct lf_keyring {
  key_t_ keys[MAX_KEYS];
  size_t n;
  const key_t_ *signer;
};

void lf_keyring_destroy(lf_keyring_t *k) {
  if (!k)
    return;
  for (size_t i = 0; i < k->n; i++) {
    OPENSSL_cleanse(k->keys[i].secret, k->keys[i].len);
    free(k->keys[i].secret);
    EVP_MAC_CTX_free(k->keys[i].mac);
  }
  free(k);
}

/* An HMAC-SHA256 context keyed with secret, or NULL (then HMAC() is
 * used, which gives the same MAC). */
static EVP_MAC_CTX *keyed_mac(const char *secret, size_t len) {
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
      OSSL_PARAM_construct_end()};
  if (c && EVP_MAC_init(c, (const unsigned char *)secret, len, params) != 1) {
    EVP_MAC_CTX_free(c);
    c = NULL;
  }
  EVP_MAC_free(m); /* the context keeps its own reference */
  return c;
}

/* One "id:secret" entry (whitespace around either is trimmed). */
static lf_err_t add_key(lf_keyring_t *k, const char *entry, size_t len,
                        const char *where, char *errstr, size_t errstr_size) {
  while (len && (*entry == ' ' || *entry == '\t'))
    entry++, len--;
  while (len && (entry[len - 1] == ' ' || entry[len - 1] == '\t' ||
                 entry[len - 1] == '\r'))
    len--;
  if (!len || *entry == '#')
    return LF_OK;
  const char *colon = memchr(entry, ':', len);
  size_t idlen = colon ? (size_t)(colon - entry) : 0;
  if (!colon || !idlen || idlen >= sizeof(k->keys[0].id)) {
    snprintf(errstr, errstr_size, "%s: a key is \"ID:SECRET\"", where);
    return LF_ERR_INVALID;
  }
  size_t slen = len - idlen - 1;
  if (slen < MIN_SECRET) {
    snprintf(errstr, errstr_size,
             "%s: key \"%.*s\" is %zu bytes; at least %d are required", where,
             (int)idlen, entry, slen, MIN_SECRET);
    return LF_ERR_INVALID;
  }
  if (k->n == MAX_KEYS) {
    snprintf(errstr, errstr_size, "%s: more than %d keys", where, MAX_KEYS);
    return LF_ERR_INVALID;
  }
  key_t_ *key = &k->keys[k->n];
  snprintf(key->id, sizeof(key->id), "%.*s", (int)idlen, entry);
  for (size_t i = 0; i < k->n; i++)
    if (!strcmp(k->keys[i].id, key->id)) {
      snprintf(errstr, errstr_size, "%s: key \"%s\" given twice", where,
               key->id);
      return LF_ERR_INVALID;
    }
  if (!(key->secret = malloc(slen))) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  memcpy(key->secret, colon + 1, slen);
  key->len = slen;
  key->mac = keyed_mac(key->secret, slen);
  k->n++;
  return LF_OK;
}

/* Entries separated by any of seps. */
static lf_err_t add_keys(lf_keyring_t *k, const char *text, const char *seps,
                         const char *where, char *errstr, size_t errstr_size) {
  lf_err_t err = LF_OK;
  while (*text && !err) {
    size_t len = strcspn(text, seps);
    err = add_key(k, text, len, where, errstr, errstr_size);
    text += len + (text[len] != '\0');
  }
  return err;
}

lf_keyring_t *lf_keyring_new(const lf_conf_t *conf, char *errstr,
                             size_t errstr_size) {
  return lf_keyring_load(conf, "signing", errstr, errstr_size);
}

lf_keyring_t *lf_keyring_load(const lf_conf_t *conf, const char *set,
                              char *errstr, size_t errstr_size) {
  lf_keyring_t *k = calloc(1, sizeof(*k));
  char path[1024], keys[64], file[64], idkey[64];
  snprintf(keys, sizeof(keys), "%s.keys", set);
  snprintf(file, sizeof(file), "%s.keys.file", set);
  snprintf(idkey, sizeof(idkey), "%s.key.id", set);
  if (!k) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (add_keys(k, lf_conf_get(conf, keys), ",", keys, errstr, errstr_size))
    goto fail;
  if (*lf_conf_get(conf, file)) {
    snprintf(errstr, errstr_size, "path too long");
    char *text = lf_conf_get_path(conf, file, path, sizeof(path))
                     ? lf_read_file(path, NULL, errstr, errstr_size)
                     : NULL;
    lf_err_t err =
        text ? add_keys(k, text, "\n", path, errstr, errstr_size) : LF_ERR_IO;
    if (text)
      OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (err == LF_ERR_IO) {
      char why[512];
      snprintf(why, sizeof(why), "%s", errstr);
      snprintf(errstr, errstr_size, "%s: %s", file, why);
    }
    if (err)
      goto fail;
  }
  if (!k->n) {
    snprintf(errstr, errstr_size,
             "no %s key: set %s (lines ID:SECRET) or LAMFLEET_%s_KEYS", set,
             file, !strcmp(set, "signing") ? "SIGNING" : "OBSERVATION");
    goto fail;
  }
  const char *id = lf_conf_get(conf, idkey);
  k->signer = &k->keys[0];
  for (size_t i = 0; *id && i < k->n; i++)
    if (!strcmp(k->keys[i].id, id))
      k->signer = &k->keys[i];
  if (*id && strcmp(k->signer->id, id)) {
    snprintf(errstr, errstr_size, "%s: no key \"%s\" is loaded", idkey, id);
    goto fail;
  }
  return k;
fail:
  lf_keyring_destroy(k);
  return NULL;
}

const char *lf_keyring_signer(const lf_keyring_t *k) {
  return k->signer->id;
}

/* Length-prefixed fields: no field's content can imitate a boundary. */
static char *canonical_bytes(const lf_verdict_t *v, const char *canon_args,
                             size_t *lenp) {
  const lf_action_t *a = v->action;
  json_t *args =
      canon_args
          ? NULL
          : json_loads(*a->arguments_json ? a->arguments_json : "{}", 0, NULL);
  char *made = args ? lf_json_canonical(args) : NULL;
  const char *canon = canon_args ? canon_args : made;
  json_decref(args);
  if (!canon)
    return NULL;
  char expiry[24], *by = NULL;
  snprintf(expiry, sizeof(expiry), "%lld", (long long)v->expires_at_ms);
  size_t bylen = 1;
  for (size_t i = 0; i < v->n_approved_by; i++)
    bylen += strlen(v->approved_by[i]) + 1;
  if (!(by = calloc(1, bylen))) {
    free(made);
    return NULL;
  }
  for (size_t i = 0; i < v->n_approved_by; i++) /* names hold no ',' */
    strcat(strcat(by, i ? "," : ""), v->approved_by[i]);
  const char *fields[] = {"lamfleet.v1.approval",
                          a->action_id,
                          a->goal_id,
                          a->tenant,
                          a->name,
                          canon,
                          v->idempotency_key,
                          v->catalog_version,
                          expiry,
                          by};
  char *buf = lf_sign_fields(fields, sizeof(fields) / sizeof(fields[0]), lenp);
  free(made);
  free(by);
  return buf;
}

char *lf_sign_fields(const char *const *fields, size_t n, size_t *lenp) {
  size_t cap = 64;
  for (size_t i = 0; i < n; i++)
    cap += strlen(fields[i]) + 24;
  char *buf = malloc(cap);
  size_t len = 0;
  for (size_t i = 0; buf && i < n; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%zu:%s\n", strlen(fields[i]),
                            fields[i]);
  *lenp = len;
  return buf;
}

lf_err_t lf_verdict_digest(const lf_verdict_t *v,
                           char out[LF_SHA256_HEX_LEN + 1]) {
  size_t len = 0;
  char *bytes = canonical_bytes(v, NULL, &len);
  if (!bytes)
    return LF_ERR_NOMEM;
  lf_sha256_hex(bytes, len, out);
  free(bytes);
  return LF_OK;
}

static lf_err_t mac_bytes(const key_t_ *key, char *bytes, size_t len,
                          uint8_t out[LF_SIGNATURE_LEN], char *errstr,
                          size_t errstr_size) {
  unsigned int mdlen = 0;
  if (!bytes) {
    snprintf(errstr, errstr_size, "cannot canonicalise the record");
    return LF_ERR_INVALID;
  }
  EVP_MAC_CTX *c = key->mac ? EVP_MAC_CTX_dup(key->mac) : NULL;
  size_t maclen = 0;
  const unsigned char *ok = NULL;
  if (c && EVP_MAC_update(c, (const unsigned char *)bytes, len) == 1 &&
      EVP_MAC_final(c, out, &maclen, LF_SIGNATURE_LEN) == 1) {
    ok = out;
    mdlen = (unsigned int)maclen;
  } else { /* no keyed context (or no memory for its copy): one-shot */
    ok = HMAC(EVP_sha256(), key->secret, (int)key->len,
              (const unsigned char *)bytes, len, out, &mdlen);
  }
  EVP_MAC_CTX_free(c);
  free(bytes);
  if (!ok || mdlen != LF_SIGNATURE_LEN) {
    snprintf(errstr, errstr_size, "HMAC-SHA256 failed");
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

static lf_err_t mac(const key_t_ *key, const lf_verdict_t *v,
                    const char *canon_args, uint8_t out[LF_SIGNATURE_LEN],
                    char *errstr, size_t errstr_size) {
  size_t len = 0;
  char *bytes = canonical_bytes(v, canon_args, &len);
  return mac_bytes(key, bytes, len, out, errstr, errstr_size);
}

static const key_t_ *find_key(const lf_keyring_t *k, const char *id) {
  for (size_t i = 0; i < k->n; i++)
    if (!strcmp(k->keys[i].id, id))
      return &k->keys[i];
  return NULL;
}

/* An observation's signed bytes: everything a planner acts on. */
static char *observation_bytes(const lf_observation_t *o, size_t *lenp) {
  char step[16], status[16], at[24];
  snprintf(step, sizeof(step), "%u", (unsigned)o->step);
  snprintf(status, sizeof(status), "%d", (int)o->status);
  snprintf(at, sizeof(at), "%lld", (long long)o->observed_at_ms);
  size_t n = 10 + 3 * o->n_reasons;
  const char **f = calloc(n, sizeof(*f));
  if (!f)
    return NULL;
  size_t i = 0;
  f[i++] = "lamfleet.v1.observation";
  f[i++] = o->goal_id;
  f[i++] = o->action_id;
  f[i++] = step;
  f[i++] = status;
  f[i++] = o->result_json;
  f[i++] = o->error;
  f[i++] = o->duplicate_of;
  f[i++] = o->observer;
  f[i++] = at;
  for (size_t r = 0; r < o->n_reasons; r++) {
    f[i++] = o->reasons[r]->code;
    f[i++] = o->reasons[r]->path;
    f[i++] = o->reasons[r]->message;
  }
  char *bytes = lf_sign_fields(f, n, lenp);
  free(f);
  return bytes;
}

lf_err_t lf_observation_sign(const lf_keyring_t *k, lf_observation_t *o,
                             uint8_t sig[LF_SIGNATURE_LEN], char *errstr,
                             size_t errstr_size) {
  size_t len = 0;
  char *bytes = observation_bytes(o, &len); /* len is set here: before use */
  lf_err_t err = mac_bytes(k->signer, bytes, len, sig, errstr, errstr_size);
  if (err)
    return err;
  o->signature_key_id = (char *)k->signer->id;
  o->signature.data = sig;
  o->signature.len = LF_SIGNATURE_LEN;
  return LF_OK;
}

/* The one check behind every verify: a signature by key_id over bytes
 * (malloc'ed here, freed here), made with a loaded key. */
static lf_err_t verify_bytes(const lf_keyring_t *k, const char *key_id,
                             const ProtobufCBinaryData *sig, char *bytes,
                             size_t len, char *errstr, size_t errstr_size) {
  uint8_t want[LF_SIGNATURE_LEN];
  const key_t_ *key = *key_id ? find_key(k, key_id) : NULL;
  if (!sig->len || !*key_id || !key) {
    free(bytes);
    if (!sig->len || !*key_id)
      snprintf(errstr, errstr_size, "not signed");
    else
      snprintf(errstr, errstr_size, "signed with unknown key \"%s\"", key_id);
    return LF_ERR_INVALID;
  }
  lf_err_t err = mac_bytes(key, bytes, len, want, errstr, errstr_size);
  if (err)
    return err;
  if (sig->len != LF_SIGNATURE_LEN ||
      CRYPTO_memcmp(want, sig->data, LF_SIGNATURE_LEN)) {
    snprintf(errstr, errstr_size, "signature does not match (key \"%s\")",
             key->id);
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

lf_err_t lf_observation_verify(const lf_keyring_t *k, const lf_observation_t *o,
                               char *errstr, size_t errstr_size) {
  size_t len = 0;
  char *bytes = observation_bytes(o, &len);
  return verify_bytes(k, o->signature_key_id, &o->signature, bytes, len, errstr,
                      errstr_size);
}

lf_err_t lf_verdict_sign(const lf_keyring_t *k, lf_verdict_t *v,
                         const char *canon_args, uint8_t sig[LF_SIGNATURE_LEN],
                         char *errstr, size_t errstr_size) {
  lf_err_t err = mac(k->signer, v, canon_args, sig, errstr, errstr_size);
  if (err)
    return err;
  v->signature_key_id = (char *)k->signer->id;
  v->signature.data = sig;
  v->signature.len = LF_SIGNATURE_LEN;
  return LF_OK;
}

lf_err_t lf_verdict_verify(const lf_keyring_t *k, const lf_verdict_t *v,
                           char *errstr, size_t errstr_size) {
  size_t len = 0;
  char *bytes = canonical_bytes(v, NULL, &len);
  return verify_bytes(k, v->signature_key_id, &v->signature, bytes, len, errstr,
                      errstr_size);
}

lf_err_t lf_keyring_random_spec(char *out, size_t size) {
  uint8_t raw[36];
  if (size < 9 + 9 + 64 + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
    return LF_ERR_INVALID;
  int n = snprintf(out, size, "dev-%02x%02x%02x%02x:", raw[0], raw[1], raw[2],
                   raw[3]);
  for (int i = 4; i < 36; i++)
    n += snprintf(out + n, size - (size_t)n, "%02x", raw[i]);
  return LF_OK;
}
