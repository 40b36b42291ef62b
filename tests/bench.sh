#!/usr/bin/env bash
# Benchmark (not a test): tcptune against the tools it replaces, in one run,
# inside the test sandbox (fresh user, network and mount namespace, empty
# sysctl directories; see tests/sandbox.sh).
#
#   bash tests/bench.sh [ITERATIONS]
#
# 1. tcptune diff web-server           vs  sysctl -e -n <the same keys>
# 2. tcptune diff <every net.ipv4.tcp_* key of this kernel>
#                                       vs  sysctl -e -n <those keys>
#                                       and sysctl -a --pattern '^net.ipv4.tcp_'
# 3. 1,000 sysctl.d files of 10 keys:  tcptune files / why / diff
#                                       vs  systemd-sysctl --cat-config
# Prints microseconds per run and the ratio tcptune / other.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
cargo build --release --quiet
export BIN=$PWD/target/release/tcptune REPO=$PWD N=$n
export TCPTUNE_HOST_NETNS=$(readlink /proc/self/ns/net)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export WORK=$work TCPTUNE_SCRATCH=$work

# A tree of 1,000 files x 10 keys (net.ipv4 keys that exist in any netns).
keys=(tcp_fin_timeout tcp_syn_retries tcp_synack_retries tcp_keepalive_time tcp_keepalive_intvl
      tcp_keepalive_probes tcp_retries2 tcp_orphan_retries tcp_tw_reuse tcp_abort_on_overflow)
mkdir -p "$work/big/etc/sysctl.d" "$work/big/usr/lib/sysctl.d"
for i in $(seq -w 0 999); do
  dir=etc/sysctl.d; (( 10#$i % 2 )) && dir=usr/lib/sysctl.d
  for j in "${!keys[@]}"; do echo "net.ipv4.${keys[$j]} = $(( (10#$i + j) % 5 + 1 ))"; done > "$work/big/$dir/$i-bench.conf"
done

common='
per_run() { # command... -> microseconds per run over $N runs
  local start end
  start=$(date +%s%N)
  for ((i = 0; i < N; i++)); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(( (end - start) / N / 1000 ))
}
compare() { # label tcptune-us other-us other-label (no awk: /etc is empty here)
  local r=$(( $2 * 100 / $3 ))
  printf "%-32s tcptune %6d us   %-27s %6d us   ratio %d.%02d\n" "$1" "$2" "$4" "$3" $(( r / 100 )) $(( r % 100 ))
}
'

unshare -rnm bash -c "$common"'
. "$REPO/tests/sandbox.sh"
web_keys=$("$BIN" show web-server | sed -n "s/^  \(net\.[^:]*\):$/\1/p")
echo "sysctls:" > "$WORK/all-tcp.yaml"
sysctl -a --pattern "^net.ipv4.tcp_" 2>/dev/null | while IFS= read -r line; do
  key=${line%% = *} value=${line#* = }
  [ -n "$value" ] && printf "  %s: \"%s\"\n" "$key" "$value"
done >> "$WORK/all-tcp.yaml"
tcp_keys=$(sed -n "s/^  \([^:]*\):.*/\1/p" "$WORK/all-tcp.yaml")
echo "kernel $(uname -r); $N runs each; $(echo $web_keys | wc -w) web-server keys, $(echo $tcp_keys | wc -w) net.ipv4.tcp_* keys"
"$BIN" diff web-server >/dev/null; sysctl -e -n $web_keys >/dev/null; "$BIN" diff "$WORK/all-tcp.yaml" >/dev/null
a=$(per_run "$BIN" diff web-server); b=$(per_run sysctl -e -n $web_keys)
compare "diff web-server" "$a" "$b" "sysctl -e -n (same keys)"
a=$(per_run "$BIN" diff "$WORK/all-tcp.yaml"); b=$(per_run sysctl -e -n $tcp_keys)
compare "diff all net.ipv4.tcp_* keys" "$a" "$b" "sysctl -e -n (same keys)"
c=$(per_run sysctl -a --pattern "^net.ipv4.tcp_")
compare "diff all net.ipv4.tcp_* keys" "$a" "$c" "sysctl -a --pattern"
'

TCPTUNE_STAGE=$work/big N=$(( n / 6 + 1 )) unshare -rnm bash -c "$common"'
. "$REPO/tests/sandbox.sh"
echo "boot model: $(ls /etc/sysctl.d /usr/lib/sysctl.d | grep -c conf) files, $N runs each"
sd=/lib/systemd/systemd-sysctl
"$sd" --cat-config --no-pager >/dev/null
c=$(per_run "$sd" --cat-config --no-pager)
a=$(per_run "$BIN" --loader systemd why tcp_fin_timeout); compare "why tcp_fin_timeout (model)" "$a" "$c" "systemd-sysctl --cat-config"
a=$(per_run "$BIN" --loader systemd files); compare "files (model + 10,000 lines)" "$a" "$c" "systemd-sysctl --cat-config"
a=$(per_run "$BIN" --loader systemd diff web-server); compare "diff web-server (live + boot)" "$a" "$c" "systemd-sysctl --cat-config"
'
