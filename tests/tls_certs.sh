#!/bin/sh
# Writes a test PKI into DIR: ca.pem (a CA), server.pem/server.key (for
# 127.0.0.1 and localhost, signed by the CA), client.pem/client.key (signed
# by the CA), other-ca.pem (a CA that signed none of them).
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "tls_certs.sh: $* failed" >&2; exit 1; }; }
ca() { # ca NAME
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=lamfleet test $1"
}
leaf() { # leaf NAME EXTENSIONS
  q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=lamfleet test $1"
  printf '%s\n' "$2" >"$1.ext"
  q openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$1.pem" -days 2 -extfile "$1.ext"
}
ca ca
ca other-ca
leaf server "subjectAltName=IP:127.0.0.1,DNS:localhost"
leaf client "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
