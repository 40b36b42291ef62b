"""Makes connection-handling problems happen, for tests/doctor.rs.

Runs inside the test sandbox (tests/sandbox.sh: a throwaway network
namespace). Each scenario sets its sysctls, opens real sockets, writes
$TCPTUNE_SCRATCH/ready once the problem is in place, and keeps the load
going (so counters rise while doctor samples) until it is killed.
Scenarios that need a peer whose replies vanish use a second namespace,
"srv", joined by a veth pair, as tests/measure/kernel.py does: the listener
lives there, and doctor runs with --netns srv. Standard library only.
"""

import ctypes
import os
import shlex
import socket
import subprocess
import sys
import threading
import time

CLIENT, SERVER = "10.9.0.1", "10.9.0.2"
BOGUS_MAC = "02:00:00:00:00:99"


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def sysctl(key, value, netns=None):
    path = "/proc/sys/" + key.replace(".", "/")
    if netns:
        line = shlex.quote(f"echo {shlex.quote(str(value))} > {path}")
        sh(f"ip netns exec {netns} sh -c {line}")
    else:
        with open(path, "w") as f:
            f.write(str(value))


def ready():
    open(os.path.join(os.environ["TCPTUNE_SCRATCH"], "ready"), "w").close()


def forever(fn, every):
    """Calls fn every `every` seconds until the process is killed."""
    while True:
        try:
            fn()
        except OSError:
            pass
        time.sleep(every)


def lo_up():
    sh("ip link set lo up")


def veth():
    """The srv namespace, joined by a veth pair, listener side silenced
    toward the client: SYN-ACKs from srv vanish."""
    sh("mkdir -p /run/netns && ip netns add srv")
    sh("ip link add veth0 type veth peer name veth1 netns srv")
    sh(f"ip addr add {CLIENT}/24 dev veth0 && ip link set veth0 up && ip link set lo up")
    sh(f"ip netns exec srv sh -c 'ip addr add {SERVER}/24 dev veth1 && ip link set veth1 up && ip link set lo up'")
    sh(f"ip netns exec srv ip neigh replace {CLIENT} lladdr {BOGUS_MAC} dev veth1 nud permanent")


def in_srv(fn):
    """Runs fn in a thread that joined the srv namespace."""
    def run():
        fd = os.open("/run/netns/srv", os.O_RDONLY)
        assert ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) == 0
        os.close(fd)
        fn()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def nonblocking_connect(addr, keep):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(addr)
    keep.append(c)


def accept_overflow(backlog, somaxconn=None):
    """A listener that never accepts, and clients arriving every 20 ms."""
    lo_up()
    if somaxconn:
        sysctl("net.core.somaxconn", somaxconn)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 9001))
    ls.listen(backlog)
    keep = []
    for _ in range(40):
        nonblocking_connect(("127.0.0.1", 9001), keep)
    time.sleep(0.3)
    ready()
    forever(lambda: nonblocking_connect(("127.0.0.1", 9001), keep), 0.02)


def syn_burst(cookies):
    """SYNs from the client to a listener in srv whose SYN-ACKs vanish."""
    veth()
    sysctl("net.ipv4.tcp_syncookies", cookies, netns="srv")
    box = threading.Event()

    def listen():
        ls = socket.socket()
        ls.bind((SERVER, 9003))
        ls.listen(8)
        box.set()
        time.sleep(3600)

    in_srv(listen)
    box.wait()
    keep = []
    for _ in range(40):
        nonblocking_connect((SERVER, 9003), keep)
    time.sleep(0.3)
    ready()
    forever(lambda: nonblocking_connect((SERVER, 9003), keep), 0.02)


def serve_and_close(port, started, address="127.0.0.1"):
    """A server that closes each connection after the client did."""
    ls = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((address, port))
    ls.listen(1024)
    started.set()
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=lambda c=conn: (c.recv(1), c.close()), daemon=True).start()


def short_connection(port, address="127.0.0.1"):
    c = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    try:
        c.connect((address, port))
    finally:
        c.close()


def ports(range_, port=9002, address="127.0.0.1"):
    """Short outgoing connections to one port, this side closing first,
    with a 10-port range and no TIME_WAIT reuse (IPv6 when `address` is)."""
    lo_up()
    sysctl("net.ipv4.ip_local_port_range", range_)
    sysctl("net.ipv4.tcp_tw_reuse", 0)
    started = threading.Event()
    threading.Thread(target=serve_and_close, args=(port, started, address), daemon=True).start()
    started.wait()
    for _ in range(10):
        try:
            short_connection(port, address)
        except OSError:
            break
    time.sleep(0.3)
    ready()
    forever(lambda: short_connection(port, address), 0.05)


def time_wait_overflow():
    """More actively closed connections than tcp_max_tw_buckets."""
    lo_up()
    sysctl("net.ipv4.tcp_max_tw_buckets", 2)
    started = threading.Event()
    threading.Thread(target=serve_and_close, args=(9004, started), daemon=True).start()
    started.wait()
    for _ in range(10):
        short_connection(9004)
    time.sleep(0.3)
    ready()
    forever(lambda: short_connection(9004), 0.05)


def idle():
    """A listener that accepts at once, and nothing else."""
    lo_up()
    started = threading.Event()
    threading.Thread(target=serve_and_close, args=(9005, started), daemon=True).start()
    started.wait()
    ready()
    time.sleep(3600)


def inert():
    """tcp_max_syn_backlog raised while syncookies is on."""
    lo_up()
    sysctl("net.ipv4.tcp_syncookies", 1)
    sysctl("net.ipv4.tcp_max_syn_backlog", 65536)
    ready()
    time.sleep(3600)


def crowd(established, time_wait, late_listener=False):
    """A busy namespace for the benchmark: `established` connections held
    open (a forked server holds the accepted ends) and `time_wait` sockets
    in TIME_WAIT, spread over destinations 127.0.0.1-127.0.0.4 so that the
    default ephemeral range suffices. Listeners are opened first, as
    servers do; with `late_listener` one is opened after all the
    connections (the worst case for naming it: doctor reads every
    descriptor before it)."""
    import resource
    lo_up()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", 9010))
    ls.listen(4096)
    if os.fork() == 0:
        # Die with the scenario (PR_SET_PDEATHSIG, SIGKILL).
        ctypes.CDLL(None).prctl(1, 9)
        held = []
        while True:
            conn, _ = ls.accept()
            held.append(conn)
    started = threading.Event()
    port = 9011
    if not late_listener:
        threading.Thread(target=serve_and_close, args=(port, started, "0.0.0.0"), daemon=True).start()
        started.wait()
    dests = [f"127.0.0.{i}" for i in range(1, 5)]
    clients = [socket.create_connection((dests[i % 4], 9010)) for i in range(established)]
    if late_listener:
        threading.Thread(target=serve_and_close, args=(port, started, "0.0.0.0"), daemon=True).start()
        started.wait()
    for i in range(time_wait):
        c = socket.socket()
        try:
            c.connect((dests[i % 4], port))
        finally:
            c.close()
    time.sleep(0.5)
    ready()
    time.sleep(3600)
    del clients


SCENARIOS = {
    "crowd": lambda: crowd(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["late-listener"]),
    "late-listener": lambda: crowd(3000, 0, True),
    "accept-backlog": lambda: accept_overflow(4),
    "accept-somaxconn": lambda: accept_overflow(4096, somaxconn=16),
    "syn-flood": lambda: syn_burst(1),
    "syn-queue-overflow": lambda: syn_burst(0),
    "ports": lambda: ports("40000 40009"),
    "ports-v6": lambda: ports("40000 40009", 9006, "::1"),
    "time-wait-overflow": time_wait_overflow,
    "idle": idle,
    "inert": inert,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
