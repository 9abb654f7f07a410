#include "approver.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"
#include "util.h"

#define MAX_APPROVERS 256
#define NAME_MAX_LEN 64
#define KEY_LEN 32

typedef struct approver {
  char name[NAME_MAX_LEN + 1];
  char groups[256]; /* ",a,b," for whole-word lookups; "" for none */
  EVP_PKEY *pub;
} approver_t;

struct lf_approvers {
  approver_t v[MAX_APPROVERS];
  size_t n;
};

struct lf_approver_key {
  char name[NAME_MAX_LEN + 1];
  EVP_PKEY *priv;
};

static int valid_name(const char *s, size_t len) {
  if (!len || len > NAME_MAX_LEN)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789._@-",
                s[i]))
      return 0;
  return 1;
}

static int unhex(const char *s, size_t len, uint8_t out[KEY_LEN]) {
  if (len != 2 * KEY_LEN)
    return -1;
  for (size_t i = 0; i < KEY_LEN; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
        !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
        !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

static void hex(const uint8_t *raw, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", raw[i]);
}

/* One "NAME:PUBHEX[:GROUPS]" entry; "" and # comments are skipped. */
static lf_err_t add(lf_approvers_t *a, const char *e, size_t len,
                    const char *where, int line, char *errstr,
                    size_t errstr_size) {
  while (len && strchr(" \t\r", e[len - 1]))
    len--;
  while (len && strchr(" \t", *e))
    e++, len--;
  if (!len || *e == '#')
    return LF_OK;
  const char *c1 = memchr(e, ':', len);
  const char *k = c1 ? c1 + 1 : NULL;
  const char *c2 = k ? memchr(k, ':', len - (size_t)(k - e)) : NULL;
  size_t klen = k ? (c2 ? (size_t)(c2 - k) : len - (size_t)(k - e)) : 0;
  uint8_t raw[KEY_LEN];
  approver_t *ap = &a->v[a->n];
  if (!c1 || !valid_name(e, (size_t)(c1 - e)) || unhex(k, klen, raw)) {
    snprintf(errstr, errstr_size,
             "%s:%d: expected NAME:PUBLIC-KEY-HEX[:GROUP,...] (a name of "
             "letters, digits, . _ @ -; a 64-digit key)",
             where, line);
    return LF_ERR_INVALID;
  }
  if (a->n == MAX_APPROVERS) {
    snprintf(errstr, errstr_size, "%s: more than %d approvers", where,
             MAX_APPROVERS);
    return LF_ERR_INVALID;
  }
  snprintf(ap->name, sizeof(ap->name), "%.*s", (int)(c1 - e), e);
  for (size_t i = 0; i < a->n; i++)
    if (!strcmp(a->v[i].name, ap->name)) {
      snprintf(errstr, errstr_size, "%s:%d: approver \"%s\" given twice", where,
               line, ap->name);
      return LF_ERR_INVALID;
    }
  ap->groups[0] = '\0';
  if (c2)
    snprintf(ap->groups, sizeof(ap->groups), ",%.*s,",
             (int)(len - (size_t)(c2 + 1 - e)), c2 + 1);
  ap->pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, KEY_LEN);
  if (!ap->pub) {
    snprintf(errstr, errstr_size, "%s:%d: not an Ed25519 public key", where,
             line);
    return LF_ERR_INVALID;
  }
  a->n++;
  return LF_OK;
}

static lf_err_t add_all(lf_approvers_t *a, const char *text, const char *seps,
                        const char *where, char *errstr, size_t errstr_size) {
  lf_err_t err = LF_OK;
  for (int line = 1; *text && !err; line++) {
    size_t len = strcspn(text, seps);
    err = add(a, text, len, where, line, errstr, errstr_size);
    text += len + (text[len] != '\0');
  }
  return err;
}

lf_approvers_t *lf_approvers_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
  lf_approvers_t *a = calloc(1, sizeof(*a));
  char path[1024];
  if (!a) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (add_all(a, lf_conf_get(conf, "approvers"), ";", "approvers", errstr,
              errstr_size))
    goto fail;
  if (*lf_conf_get(conf, "approvers.file")) {
    char why[512];
    char *text =
        lf_conf_get_path(conf, "approvers.file", path, sizeof(path))
            ? lf_read_file(path, NULL, why, sizeof(why))
            : (snprintf(why, sizeof(why), "path too long"), (char *)NULL);
    if (!text) {
      snprintf(errstr, errstr_size, "approvers.file: %s", why);
      goto fail;
    }
    lf_err_t err = add_all(a, text, "\n", path, errstr, errstr_size);
    free(text);
    if (err)
      goto fail;
  }
  return a;
fail:
  lf_approvers_destroy(a);
  return NULL;
}

void lf_approvers_destroy(lf_approvers_t *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->n; i++)
    EVP_PKEY_free(a->v[i].pub);
  free(a);
}

size_t lf_approvers_count(const lf_approvers_t *a) {
  return a ? a->n : 0;
}

static const approver_t *find(const lf_approvers_t *a, const char *name) {
  for (size_t i = 0; a && i < a->n; i++)
    if (!strcmp(a->v[i].name, name))
      return &a->v[i];
  return NULL;
}

/* The bytes a decision is signed over. */
static char *decision_bytes(const lf_approval_decision_t *d, size_t *len) {
  char at[24];
  snprintf(at, sizeof(at), "%lld", (long long)d->decided_at_ms);
  const char *fields[] = {"lamfleet.v1.decision",
                          d->action_id,
                          d->goal_id,
                          d->approved ? "approve" : "deny",
                          d->approver,
                          d->held_digest,
                          at,
                          d->note};
  return lf_sign_fields(fields, sizeof(fields) / sizeof(fields[0]), len);
}

lf_err_t lf_decision_verify(const lf_approvers_t *a,
                            const lf_approval_decision_t *d, const char **code,
                            char *errstr, size_t errstr_size) {
  const approver_t *ap = find(a, d->approver);
  *code = NULL;
  if (!d->signature.len) {
    *code = "decision_unsigned";
    snprintf(errstr, errstr_size, "the decision is not signed");
  } else if (!ap) {
    *code = "unknown_approver";
    snprintf(errstr, errstr_size, "\"%s\" is not a configured approver",
             d->approver);
  }
  if (*code)
    return LF_ERR_INVALID;
  size_t len = 0;
  char *bytes = decision_bytes(d, &len);
  EVP_MD_CTX *ctx = bytes ? EVP_MD_CTX_new() : NULL;
  int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, ap->pub) == 1 &&
           EVP_DigestVerify(ctx, d->signature.data, d->signature.len,
                            (const unsigned char *)bytes, len) == 1;
  EVP_MD_CTX_free(ctx);
  free(bytes);
  if (!bytes || !ctx) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  if (!ok) {
    *code = "bad_signature";
    snprintf(errstr, errstr_size, "the signature is not %s's", d->approver);
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

int lf_approvers_allowed(const lf_approvers_t *a, const char *approver,
                         const char *const *allow, size_t n) {
  const approver_t *ap = find(a, approver);
  if (!ap)
    return 0;
  if (!n)
    return 1;
  for (size_t i = 0; i < n; i++) {
    char word[300];
    if (!strncmp(allow[i], "group:", 6)) {
      snprintf(word, sizeof(word), ",%s,", allow[i] + 6);
      if (strstr(ap->groups, word))
        return 1;
    } else if (!strcmp(allow[i], approver)) {
      return 1;
    }
  }
  return 0;
}

lf_approver_key_t *lf_approver_key_load(const lf_conf_t *conf, char *errstr,
                                        size_t errstr_size) {
  char path[1024], *text = NULL;
  const char *spec = lf_conf_get(conf, "approver.key"), *where = "approver.key";
  if (!*spec && *lf_conf_get(conf, "approver.key.file")) {
    char why[512] = "path too long";
    where = "approver.key.file";
    if (!lf_conf_get_path(conf, where, path, sizeof(path)) ||
        !(text = lf_read_file(path, NULL, why, sizeof(why)))) {
      snprintf(errstr, errstr_size, "approver.key.file: %s", why);
      return NULL;
    }
    spec = text;
  }
  if (!*spec) {
    snprintf(errstr, errstr_size,
             "no approver key: set approver.key.file (NAME:PRIVATE-KEY-HEX, "
             "from `lamfleet approvals keygen NAME`) or LAMFLEET_APPROVER_KEY");
    return NULL;
  }
  size_t len = strcspn(spec, "\r\n");
  const char *colon = memchr(spec, ':', len);
  uint8_t raw[KEY_LEN];
  lf_approver_key_t *k = calloc(1, sizeof(*k));
  if (!k || !colon || !valid_name(spec, (size_t)(colon - spec)) ||
      unhex(colon + 1, len - (size_t)(colon + 1 - spec), raw) ||
      !(k->priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw,
                                               KEY_LEN))) {
    snprintf(errstr, errstr_size,
             k ? "%s: expected NAME:PRIVATE-KEY-HEX (64 hex digits)"
               : "out of memory",
             where);
    lf_approver_key_destroy(k);
    k = NULL;
  } else {
    snprintf(k->name, sizeof(k->name), "%.*s", (int)(colon - spec), spec);
  }
  OPENSSL_cleanse(raw, sizeof(raw));
  if (text) {
    OPENSSL_cleanse(text, strlen(text));
    free(text);
  }
  return k;
}

void lf_approver_key_destroy(lf_approver_key_t *k) {
  if (!k)
    return;
  EVP_PKEY_free(k->priv);
  free(k);
}

const char *lf_approver_key_name(const lf_approver_key_t *k) {
  return k->name;
}

lf_err_t lf_decision_sign(const lf_approver_key_t *k, lf_approval_decision_t *d,
                          uint8_t sig[LF_APPROVER_SIG_LEN], char *errstr,
                          size_t errstr_size) {
  size_t len = 0, siglen = LF_APPROVER_SIG_LEN;
  d->approver = (char *)k->name;
  char *bytes = decision_bytes(d, &len);
  EVP_MD_CTX *ctx = bytes ? EVP_MD_CTX_new() : NULL;
  int ok =
      ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->priv) == 1 &&
      EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)bytes, len) == 1;
  EVP_MD_CTX_free(ctx);
  free(bytes);
  if (!ok) {
    snprintf(errstr, errstr_size, "cannot sign the decision");
    return LF_ERR_INVALID;
  }
  d->signature.data = sig;
  d->signature.len = siglen;
  return LF_OK;
}

lf_err_t lf_approver_keygen(const char *name, char *pub, size_t pub_size,
                            char *priv, size_t priv_size, char *errstr,
                            size_t errstr_size) {
  uint8_t raw[KEY_LEN];
  char h[2 * KEY_LEN + 1];
  size_t len = KEY_LEN;
  if (!valid_name(name, strlen(name))) {
    snprintf(errstr, errstr_size,
             "approver name \"%.64s\": letters, digits, . _ @ - only (at "
             "most %d)",
             name, NAME_MAX_LEN);
    return LF_ERR_INVALID;
  }
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  int ok = key && EVP_PKEY_get_raw_private_key(key, raw, &len) == 1;
  if (ok) {
    hex(raw, KEY_LEN, h);
    snprintf(priv, priv_size, "%s:%s", name, h);
    len = KEY_LEN;
    ok = EVP_PKEY_get_raw_public_key(key, raw, &len) == 1;
  }
  if (ok) {
    hex(raw, KEY_LEN, h);
    snprintf(pub, pub_size, "%s:%s", name, h);
  }
  OPENSSL_cleanse(raw, sizeof(raw));
  OPENSSL_cleanse(h, sizeof(h));
  EVP_PKEY_free(key);
  if (!ok)
    snprintf(errstr, errstr_size, "cannot make an Ed25519 key");
  return ok ? LF_OK : LF_ERR_INVALID;
}
