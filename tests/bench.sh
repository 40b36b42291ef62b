#!/usr/bin/env bash
# Benchmark (not a test): tcptune diff against procps sysctl reading the
# same keys, in one run, inside a throwaway network namespace.
#
#   bash tests/bench.sh [ITERATIONS]
#
# 1. tcptune diff web-server          vs  sysctl -n <the same keys>
# 2. tcptune diff <every net.ipv4.tcp_* key of this kernel>
#                                      vs  sysctl -n <those keys>
#                                      and sysctl -a --pattern '^net.ipv4.tcp_'
# Prints microseconds per run and the ratio tcptune / procps.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
cargo build --release --quiet
bin=$PWD/target/release/tcptune
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

exec unshare -rn bash -s "$bin" "$work" "$n" <<'INNER'
set -euo pipefail
bin=$1 work=$2 n=$3

per_run() { # command... -> microseconds per run over $n runs
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < n; i++)); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(( (end - start) / n / 1000 ))
}
compare() { # label tcptune-us procps-us
  awk -v l="$1" -v a="$2" -v b="$3" -v pl="$4" 'BEGIN { printf "%-34s tcptune %5d us   %-28s %5d us   ratio %.2f\n", l, a, pl, b, a / b }'
}

web_keys=$("$bin" show web-server | sed -n 's/^  \(net\.[^:]*\):$/\1/p')
echo "sysctls:" > "$work/all-tcp.yaml"
sysctl -a --pattern '^net.ipv4.tcp_' 2>/dev/null | while IFS= read -r line; do
  key=${line%% = *} value=${line#* = }
  [ -n "$value" ] && printf '  %s: "%s"\n' "$key" "$value"
done >> "$work/all-tcp.yaml"
tcp_keys=$(sed -n 's/^  \([^:]*\):.*/\1/p' "$work/all-tcp.yaml")

echo "kernel $(uname -r); $n runs each; $(echo $web_keys | wc -w) web-server keys, $(echo $tcp_keys | wc -w) net.ipv4.tcp_* keys"
# Warm the page cache and check both sides work.
"$bin" diff web-server >/dev/null; sysctl -e -n $web_keys >/dev/null
"$bin" diff "$work/all-tcp.yaml" >/dev/null

a=$(per_run "$bin" diff web-server); b=$(per_run sysctl -e -n $web_keys)
compare "diff web-server" "$a" "$b" "sysctl -e -n (same keys)"
a=$(per_run "$bin" diff "$work/all-tcp.yaml"); b=$(per_run sysctl -e -n $tcp_keys)
compare "diff all net.ipv4.tcp_* keys" "$a" "$b" "sysctl -e -n (same keys)"
c=$(per_run sysctl -a --pattern '^net.ipv4.tcp_')
compare "diff all net.ipv4.tcp_* keys" "$a" "$c" "sysctl -a --pattern"
INNER
