#!/usr/bin/env bash
# lamfleet's quick start on Debian 12: installs the Debian packages that are
# missing, builds, then runs what you ask for.
#   ./lamfleet.sh demo            the sample goals on the embedded stack
#   ./lamfleet.sh dev             the embedded stack until Ctrl-C
#   ./lamfleet.sh test            the whole test suite
#   ./lamfleet.sh test-sanitize   the suite under ASan + UBSan
#   ./lamfleet.sh bench [fleet|guard|planner|executor] [ARGS]  the benchmarks
#   ./lamfleet.sh format          apply .clang-format to every C file
#   ./lamfleet.sh fuzz [SECONDS]  the libFuzzer targets, each for SECONDS
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(gcc make cmake pkg-config librdkafka-dev libhiredis-dev
  libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libjansson-dev
  libmicrohttpd-dev libssl-dev libpcre2-dev check libsubunit-dev redis-server kcat
  clang-format git clang libclang-rt-14-dev curl prometheus python3 python3-yaml
  openssl
  # the Python reference guard of the guard bench
  python3-confluent-kafka python3-fastjsonschema python3-jsonschema python3-redis
  python3-hiredis python3-protobuf protobuf-compiler)

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}

build() { # build DIR [cmake options...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
demo | dev)
  install_missing
  build build >/dev/null
  exec build/cli/lamfleet "$cmd" "$@"
  ;;
test)
  install_missing
  build build
  cd build && exec ctest -j "$(nproc)" --output-on-failure "$@"
  ;;
test-sanitize)
  install_missing
  build build-sanitize -DLF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 exec ctest -j "$(nproc)" --output-on-failure "$@"
  ;;
bench)
  install_missing
  build build >/dev/null
  case "${1:-}" in
  guard) shift; exec build/bench/lamfleet-bench-guard "$@" ;;
  fleet) shift; exec build/bench/lamfleet-bench "$@" ;;
  planner) shift; exec build/bench/lamfleet-bench-planner "$@" ;;
  executor) shift; exec build/bench/lamfleet-bench-executor "$@" ;;
  *)
    build/bench/lamfleet-bench "$@"
    build/bench/lamfleet-bench-guard
    build/bench/lamfleet-bench-planner
    exec build/bench/lamfleet-bench-executor
    ;;
  esac
  ;;
fuzz)
  install_missing
  CC=clang build build-fuzz -DLF_FUZZ=ON -DLF_BUILD_TESTS=OFF \
    -DLF_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  for t in catalog arguments reply url record; do
    mkdir -p "build-fuzz/corpus-$t"
    echo "fuzz_$t: ${1:-60} s" >&2
    build-fuzz/fuzz/fuzz_$t -max_total_time="${1:-60}" -print_final_stats=1 \
      "build-fuzz/corpus-$t" "fuzz/corpus/$t" 2>&1 | tail -4
  done
  ;;
format)
  install_missing
  git ls-files '*.c' '*.h' | xargs clang-format -i
  ;;
*)
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
