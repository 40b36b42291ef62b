#!/usr/bin/env bash
# Benchmark (not a test): tcptune against the tools it replaces, in paired
# runs (A, B, A, B...; tests/bench.py), inside the test sandbox (fresh user,
# network and mount namespace, empty sysctl directories; tests/sandbox.sh).
#
#   bash tests/bench.sh [RUNS]
#
# Each line: medians of wall and CPU time (the child's user + sys, which
# stays stable on a busy machine), the ratio tcptune / other, and
# tcptune's largest resident set. Output goes through a pipe.
#
# 1. diff / check web-server              vs  sysctl -e -n <the same keys>
# 2. trees of 10, 100, 1,000 and 10,000 sysctl.d files of 10 keys:
#    files / why KEY / diff web-server     vs  systemd-sysctl --cat-config
# 3. doctor --interval 0 with 10,000 established connections and 20,000
#    TIME_WAIT sockets                     vs  ss -s; ss -lnt; nstat -asz
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
cargo build --release --quiet
# The repository builds for an explicit target (.cargo/config.toml).
export BIN=$PWD/target/$(rustc --print host-tuple)/release/tcptune REPO=$PWD RUNS=$runs
export TCPTUNE_HOST_NETNS=$(readlink /proc/self/ns/net)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TCPTUNE_SCRATCH=$work
echo "kernel $(uname -r), $(nproc) CPUs; $runs paired runs (fewer for the big trees)"

sandboxed() { # script: runs in a fresh sandbox
  unshare -rnm bash -c ". \"\$REPO/tests/sandbox.sh\"; $1"
}
P="python3 $PWD/tests/bench.py"

sandboxed '
web_keys=$("$BIN" show web-server --format json | python3 -c "import json,sys; print(\" \".join(json.load(sys.stdin)[\"sysctls\"]))")
'"$P"' $RUNS "diff web-server (19 keys)" -- "$BIN" diff web-server -- sysctl -e -n $web_keys
'"$P"' $RUNS "check web-server" -- "$BIN" check web-server -- sysctl -e -n $web_keys
'

for files in 10 100 1000 10000; do
  tree=$work/tree-$files
  python3 - "$tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
keys = ["tcp_fin_timeout", "tcp_syn_retries", "tcp_synack_retries", "tcp_keepalive_time",
        "tcp_keepalive_intvl", "tcp_keepalive_probes", "tcp_retries2", "tcp_orphan_retries",
        "tcp_tw_reuse", "tcp_abort_on_overflow"]
for d in ("etc/sysctl.d", "usr/lib/sysctl.d"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
width = len(str(n - 1))
for i in range(n):
    d = "usr/lib/sysctl.d" if i % 2 else "etc/sysctl.d"
    with open(os.path.join(root, d, f"{i:0{width}d}-bench.conf"), "w") as f:
        for j, k in enumerate(keys):
            f.write(f"net.ipv4.{k} = {(i + j) % 5 + 1}\n")
PY
  r=$(( files >= 10000 ? runs / 10 + 5 : files >= 1000 ? runs / 4 + 5 : runs ))
  TCPTUNE_STAGE=$tree R=$r F=$files sandboxed '
sd=/lib/systemd/systemd-sysctl
'"$P"' $R "files, $F files" -- "$BIN" --loader systemd files -- $sd --cat-config --no-pager
'"$P"' $R "why tcp_fin_timeout, $F files" -- "$BIN" --loader systemd why tcp_fin_timeout -- $sd --cat-config --no-pager
'"$P"' $R "diff web-server, $F files" -- "$BIN" --loader systemd diff web-server -- $sd --cat-config --no-pager
'
done

# 3. doctor in a crowded namespace, three ways: the default ephemeral
#    range (38,000 sockets exceed its 80%, so the connections in a sample of
#    the range are dumped for the per-destination check; no pair holds
#    enough of it to need the rest); a range so wide that they cannot fill it
#    (no connection dump: the same information as the three tools); and a
#    listener opened after the 10,000 connections of its process (the worst
#    case for naming it).
for late in "" late-listener; do
  rm -f "$work/ready"
  R=$(( runs / 4 + 5 )) LATE=$late sandboxed '
python3 "$REPO/tests/doctor/scenario.py" crowd 10000 20000 $LATE > "$TCPTUNE_SCRATCH/crowd.log" 2>&1 &
C=$!
until [ -e "$TCPTUNE_SCRATCH/ready" ]; do kill -0 $C || { cat "$TCPTUNE_SCRATCH/crowd.log"; exit 1; }; sleep 0.2; done
if [ -z "$LATE" ]; then
  echo "doctor: $(ss -tan state established | tail -n +2 | wc -l) established, $(ss -tan state time-wait | tail -n +2 | wc -l) TIME_WAIT sockets"
  '"$P"' $R "doctor --interval 0 (default range)" -- "$BIN" doctor --interval 0 -- ss -s -- ss -lnt -- nstat -asz
  echo 1024 65535 > /proc/sys/net/ipv4/ip_local_port_range
  '"$P"' $R "doctor --interval 0 (wide range)" -- "$BIN" doctor --interval 0 -- ss -s -- ss -lnt -- nstat -asz
else
  '"$P"' $R "doctor --interval 0 (late listener)" -- "$BIN" doctor --interval 0 -- ss -s -- ss -lnt -- nstat -asz
fi
kill $C
'
done
