/* JSON rendering of any lamfleet message by walking its protobuf-c
 * descriptor, following protobuf's JSON mapping: default values are left
 * out, enums by lower-case name, bytes as base64. Fields named *_json hold
 * JSON text and are embedded as JSON values. */
#include "lf_proto.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static json_t *message_json(const ProtobufCMessage *msg);

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static json_t *string_json(const ProtobufCFieldDescriptor *f, const char *s) {
  if (ends_with(f->name, "_json")) {
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    if (j)
      return j;
  }
  return json_string(s);
}

static json_t *bytes_json(const ProtobufCBinaryData *b) {
  size_t cap = 4 * ((b->len + 2) / 3) + 1;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
  json_t *j = json_string(out);
  free(out);
  return j;
}

static json_t *enum_json(const ProtobufCFieldDescriptor *f, int v) {
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value(f->descriptor, v);
  if (!ev)
    return json_integer(v);
  char name[64];
  size_t i = 0;
  for (; ev->name[i] && i < sizeof(name) - 1; i++)
    name[i] = (char)tolower((unsigned char)ev->name[i]);
  name[i] = '\0';
  return json_string(name);
}

/* One scalar or sub-message value at p; NULL when it is a default. */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p,
                          int keep_default) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return s && (*s || keep_default) ? string_json(f, s) : NULL;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = p;
    return b->len || keep_default ? bytes_json(b) : NULL;
  }
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_ENUM: {
    int32_t v = *(const int32_t *)p;
    if (!v && !keep_default)
      return NULL;
    return f->type == PROTOBUF_C_TYPE_ENUM ? enum_json(f, v) : json_integer(v);
  }
  case PROTOBUF_C_TYPE_UINT32: {
    uint32_t v = *(const uint32_t *)p;
    return v || keep_default ? json_integer(v) : NULL;
  }
  case PROTOBUF_C_TYPE_INT64: {
    int64_t v = *(const int64_t *)p;
    return v || keep_default ? json_integer(v) : NULL;
  }
  case PROTOBUF_C_TYPE_BOOL: {
    protobuf_c_boolean v = *(const protobuf_c_boolean *)p;
    return v || keep_default ? json_boolean(v) : NULL;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
    return m ? message_json(m) : NULL;
  }
  default:
    return NULL; /* types lamfleet's schema does not use */
  }
}

static size_t field_size(const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_INT64:
    return sizeof(int64_t);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  default:
    return sizeof(int32_t);
  }
}

static json_t *message_json(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  json_t *obj = json_object();
  if (!obj)
    return NULL;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *member = (const char *)msg + f->offset;
    json_t *v = NULL;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
      if (!n)
        continue;
      const char *arr = *(char *const *)member;
      v = json_array();
      for (size_t k = 0; v && k < n; k++)
        json_array_append_new(v, value_json(f, arr + k * field_size(f), 1));
    } else {
      v = value_json(f, member, 0);
    }
    if (v)
      json_object_set_new(obj, f->name, v);
  }
  return obj;
}

char *lf_proto_to_json(const ProtobufCMessage *msg) {
  json_t *j = message_json(msg);
  if (!j)
    return NULL;
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return s;
}
