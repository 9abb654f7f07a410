#!/usr/bin/env bash
# Secrets never appear in output: planted passwords, signing secrets and
# API keys are given to the CLI and the workers the ways users give them
# (a malformed or a good redis.url, redis.password, signing.keys, an API
# key variable), and every line they print, their logs and /metrics are
# searched for them.
set -u
LAMFLEET=$1
GUARD=$2
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
pid=
S1=planted-redis-pw-5f1c2e
S2=planted-signing-secret-9a7b3c0d1e2f3a4b5c6d7e8f
S3=planted-short-1e2
S4=planted-redis-pw-ace0b1
S5=sk-planted-api-key-77d1
S6=planted-observation-secret-0b1c2d3e4f5a6b7c8d9e0f1a
fail() { echo "FAIL: $*"; exit 1; }
leaks() { # FILE: fails when it holds any planted secret
  for s in $S1 $S2 $S3 $S4 $S5 $S6; do
    if grep -q -- "$s" "$1"; then
      echo "secret $s leaked in:"; cat "$1"; exit 1
    fi
  done
}

# malformed redis.url: the error names the URL, the password masked
"$LAMFLEET" -X "redis.url=redis://user:$S1@[::1" dev >"$dir/a" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "a malformed redis.url was accepted"
grep -q 'redis.url: "redis://user:\*\*\*@\[::1"' "$dir/a" || { cat "$dir/a"; fail "no clear redis.url error"; }
leaks "$dir/a"

# a too-short signing secret: the error names the key, not the secret
"$LAMFLEET" -X "signing.keys=k1:$S3" dev >"$dir/b" 2>&1
grep -q 'key "k1" is' "$dir/b" || { cat "$dir/b"; fail "no clear signing.keys error"; }
leaks "$dir/b"

# lamfleet dev with a signing key given to it: the banner names its id;
# the logs and /metrics show neither it nor the API key
OPENAI_API_KEY=$S5 "$LAMFLEET" -X metrics.port=-1 -X "signing.keys=k1:$S2" \
  -X "observation.keys=o1:$S6" \
  -X log.level=debug dev >"$dir/d" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'Ctrl-C stops it' "$dir/d" && break
  sleep 0.1
done
grep -q 'signing.keys  *ids k1' "$dir/d" || { cat "$dir/d"; fail "the banner does not name the key id"; }
grep -q 'observation.keys  *ids o1' "$dir/d" || { cat "$dir/d"; fail "the banner does not name the observation key id"; }
bs=$(awk '/kafka.bootstrap.servers/ {print $2}' "$dir/d")
redis=$(awk '/redis.url/ {print $2}' "$dir/d")
# guards with passwords in their Redis settings: one whose Redis does not
# answer, one that Redis refuses (no password is set there): their logs
# show the address and the refusal only
OPENAI_API_KEY=$S5 timeout -s TERM 4 "$GUARD" -b "$bs" -X metrics.port=0 -X guard.group.id=secrets \
  -X "redis.url=redis://:$S1@127.0.0.1:1" -X "signing.keys=k1:$S2" \
  -X "observation.keys=o1:$S6" \
  -X log.level=debug >"$dir/c" 2>&1
grep -q 'redis 127.0.0.1:1' "$dir/c" || { cat "$dir/c"; fail "no Redis error logged"; }
leaks "$dir/c"
timeout -s TERM 4 "$GUARD" -b "$bs" -X metrics.port=0 -X guard.group.id=secrets -X "redis.url=$redis" \
  -X "redis.password=$S4" -X "signing.keys=k1:$S2" -X "observation.keys=o1:$S6" \
  -X log.level=debug \
  >"$dir/c2" 2>&1
grep -q 'AUTH' "$dir/c2" || { cat "$dir/c2"; fail "no AUTH refusal logged"; }
leaks "$dir/c2"
"$LAMFLEET" -b "$bs" goal submit "greet secrets" --wait --timeout 60 >"$dir/e" 2>&1 \
  || { cat "$dir/e" "$dir/d"; fail "the goal did not complete"; }
port=$(sed -n 's|.*metrics on http://[0-9.]*:\([0-9]*\)/metrics.*|\1|p' "$dir/d")
curl -s "http://127.0.0.1:$port/metrics" >"$dir/f" || fail "no /metrics"
kill -INT $pid
wait $pid
leaks "$dir/d"
leaks "$dir/e"
leaks "$dir/f"

# a generated key goes to a file only its user can read, named in the
# banner, and gone when dev stops
"$LAMFLEET" -X metrics.port=0 dev >"$dir/g" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'Ctrl-C stops it' "$dir/g" && break
  sleep 0.1
done
keys=$(awk '/signing.keys.file/ {print $2}' "$dir/g")
[ -f "$keys" ] || { cat "$dir/g"; fail "no key file named"; }
[ "$(stat -c %a "$keys")" = 600 ] || fail "the key file is readable by others"
secret=$(cut -d: -f2 "$keys")
grep -q -- "$secret" "$dir/g" && fail "the generated secret is in the banner"
kill -INT $pid
wait $pid
[ ! -e "$keys" ] || fail "the key file outlived dev"
echo "no secret in any output"
