"""Measures TCP behaviour of the running kernel, for tests/measure.rs.

Runs inside the test sandbox (tests/sandbox.sh), whose network namespace
is the "client"; `setup` adds a "srv" namespace joined by a veth pair
(10.9.0.1 here, 10.9.0.2 there). A peer is made silent by a permanent
neighbour entry with a bogus MAC: frames to it go nowhere, no error comes
back. Every measurement prints one JSON object: {"seconds": ...} or
{"count": ...}. Standard library only.
"""

import ctypes
import errno
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

CLIENT, SERVER = "10.9.0.1", "10.9.0.2"
BOGUS_MAC = "02:00:00:00:00:99"


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def setup():
    sh("mkdir -p /run/netns && ip netns add srv")
    sh("ip link add veth0 type veth peer name veth1 netns srv")
    sh(f"ip addr add {CLIENT}/24 dev veth0 && ip link set veth0 up && ip link set lo up")
    sh(f"ip netns exec srv sh -c 'ip addr add {SERVER}/24 dev veth1 && ip link set veth1 up && ip link set lo up'")
    # Resolve the neighbours both ways once (a refused connection), so no
    # measurement is delayed by ARP.
    try:
        socket.create_connection((SERVER, 1), timeout=2)
    except ConnectionRefusedError:
        pass


def silence(peer, dev, netns=None):
    """Frames to `peer` go to a MAC nobody has: the peer falls silent."""
    prefix = f"ip netns exec {netns} " if netns else ""
    sh(f"{prefix}ip neigh replace {peer} lladdr {BOGUS_MAC} dev {dev} nud permanent")


def in_srv(fn):
    """Runs fn in the srv namespace (a thread that joined it)."""
    result = {}

    def run():
        fd = os.open("/run/netns/srv", os.O_RDONLY)
        # setns(2) for this thread only (os.setns is Python 3.12+).
        assert ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) == 0, ctypes.get_errno()
        os.close(fd)
        result["value"] = fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def tcp_states(port, path="/proc/net/tcp", netns=None):
    """States (hex) of sockets on local or remote `port`, from /proc/net/tcp."""
    if netns:
        out = subprocess.run(["ip", "netns", "exec", netns, "cat", path], capture_output=True, text=True).stdout
    else:
        out = open(path).read()
    states = []
    for line in out.splitlines()[1:]:
        f = line.split()
        lport = int(f[1].split(":")[1], 16)
        rport = int(f[2].split(":")[1], 16)
        if port in (lport, rport):
            states.append(f[3])
    return states


def wait_gone(predicate, limit):
    """Seconds until predicate() is false, polling every 10 ms."""
    start = time.monotonic()
    while predicate():
        if time.monotonic() - start > limit:
            return None
        time.sleep(0.01)
    return time.monotonic() - start


def connect_timeout():
    """connect() to a silent peer: seconds until ETIMEDOUT."""
    silence(SERVER, "veth0")
    s = socket.socket()
    start = time.monotonic()
    try:
        s.connect((SERVER, 9))
    except OSError as e:
        assert e.errno == errno.ETIMEDOUT, e
    return time.monotonic() - start


def synack_lifetime():
    """A half-open request whose SYN-ACKs vanish: seconds it stays SYN_RECV."""
    port = 8101
    ready = threading.Event()

    def listen():
        ls = socket.socket()
        ls.bind((SERVER, port))
        ls.listen(16)
        ready.set()
        time.sleep(600)

    t, _ = in_srv(listen)
    ready.wait()
    silence(CLIENT, "veth1", netns="srv")
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex((SERVER, port))
    born = wait_until(lambda: "03" in tcp_states(port, netns="srv"), 5)
    assert born is not None, "no SYN_RECV entry appeared"
    # The client falls silent too: a retransmitted SYN would resend the
    # SYN-ACK and restart the request's timer (tcp_check_req).
    silence(SERVER, "veth0")
    return born + wait_gone(lambda: "03" in tcp_states(port, netns="srv"), 300)


def wait_until(predicate, limit):
    return wait_gone(lambda: not predicate(), limit)


def established(port, backlog=16):
    """A connected client socket, and the server's accepted socket."""
    ready = threading.Event()
    box = {}

    def serve():
        ls = socket.socket()
        ls.bind((SERVER, port))
        ls.listen(backlog)
        ready.set()
        conn, _ = ls.accept()
        box["conn"] = conn
        box["listener"] = ls

    t, _ = in_srv(serve)
    ready.wait()
    c = socket.create_connection((SERVER, port), timeout=5)
    c.settimeout(None)
    t.join()
    return c, box


def keepalive_detection():
    """An idle connection with SO_KEEPALIVE whose peer vanished: seconds
    from the last segment until recv() fails with ETIMEDOUT."""
    c, box = established(8102)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    silence(SERVER, "veth0")
    start = time.monotonic()
    return seconds_until_timed_out(c, start)


def seconds_until_timed_out(c, start):
    """Blocks in recv() until the kernel aborts `c` with ETIMEDOUT."""
    try:
        c.recv(1)
    except OSError as e:
        assert e.errno == errno.ETIMEDOUT, e
    return time.monotonic() - start


def data_abort():
    """Data sent to a peer that stopped acknowledging: seconds until the
    connection is aborted (ETIMEDOUT)."""
    c, box = established(8103)
    silence(SERVER, "veth0")
    start = time.monotonic()
    c.send(b"x" * 100)
    return seconds_until_timed_out(c, start)


def orphan_abort():
    """A closed socket with unacknowledged data (FIN_WAIT1, orphaned):
    seconds until the kernel gives it up."""
    port = 8104
    c, box = established(port)
    silence(SERVER, "veth0")
    start = time.monotonic()
    c.send(b"x" * 100)
    c.close()
    gone = wait_gone(lambda: any(s in ("04", "05") for s in tcp_states(port)), 400)
    return None if gone is None else time.monotonic() - start


def fin_wait2():
    """We close first; the peer ACKs our FIN but never sends its own: seconds
    the orphaned socket stays in FIN_WAIT2 (as a socket or timewait entry)."""
    port = 8105
    c, box = established(port)
    c.close()
    start = time.monotonic()
    # FIN_WAIT2 (05), also as a timewait minisocket (substate shown as 05).
    seen = wait_until(lambda: "05" in tcp_states(port), 5)
    assert seen is not None, tcp_states(port)
    gone = wait_gone(lambda: "05" in tcp_states(port), 400)
    return None if gone is None else time.monotonic() - start


def accept_queue(backlog):
    """Connections a listener that never accepts holds: listen(backlog),
    20 clients; the listener's Recv-Q (sk_ack_backlog) afterwards."""
    port = 8106
    ready = threading.Event()

    def listen():
        ls = socket.socket()
        ls.bind((SERVER, port))
        ls.listen(backlog)
        ready.set()
        time.sleep(600)

    t, _ = in_srv(listen)
    ready.wait()
    clients = []
    for _ in range(20):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex((SERVER, port))
        clients.append(c)
    time.sleep(0.5)
    out = subprocess.run(["ip", "netns", "exec", "srv", "cat", "/proc/net/tcp"], capture_output=True, text=True).stdout
    for line in out.splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
            return int(f[4].split(":")[1], 16)
    return None


def port_rate(seconds):
    """New connections per second to one destination, this side closing
    first, over `seconds`; the ephemeral range is set by the caller."""
    port = 8107
    ready = threading.Event()

    def serve():
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((SERVER, port))
        ls.listen(4096)
        ready.set()
        while True:
            conn, _ = ls.accept()
            # Close only after the client did: the client closes first and
            # its side takes TIME_WAIT, as the claim is about.
            conn.recv(1)
            conn.close()

    t, _ = in_srv(serve)
    ready.wait()
    ok = 0
    first_failure = None
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        c = socket.socket()
        try:
            c.connect((SERVER, port))
            ok += 1
        except OSError as e:
            if e.errno != errno.EADDRNOTAVAIL:
                raise
            if first_failure is None:
                first_failure = ok
            time.sleep(0.001)
        finally:
            c.close()
    return {"count": ok, "rate": ok / seconds, "first_failure_after": first_failure}


def capture_outgoing(dev, port, seen, stop):
    """Appends (monotonic time, TCP payload length) of every IPv4 segment
    sent out of `dev` to `port`, until `stop` is set."""
    # Outgoing frames reach only ETH_P_ALL taps (dev_queue_xmit_nit).
    ETH_P_ALL, ETH_P_IP, PACKET_OUTGOING = 0x0003, 0x0800, 4
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    s.bind((dev, ETH_P_ALL))
    s.settimeout(0.1)
    while not stop.is_set():
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[1] != ETH_P_IP or addr[2] != PACKET_OUTGOING or data[9] != 6:
            continue
        ihl = (data[0] & 0x0F) * 4
        total = int.from_bytes(data[2:4], "big")
        tcp = data[ihl:]
        if int.from_bytes(tcp[2:4], "big") != port:
            continue
        seen.append((time.monotonic(), total - ihl - (tcp[12] >> 4) * 4))


def smaller_segments():
    """Data sent to a peer that stopped acknowledging, with
    tcp_mtu_probing on: seconds until a retransmission goes out in smaller
    segments (tcp_retries1 reached: black hole MTU probing)."""
    port = 8108
    c, box = established(port)
    seen, stop = [], threading.Event()
    t = threading.Thread(target=capture_outgoing, args=("veth0", port, seen, stop), daemon=True)
    t.start()
    time.sleep(0.2)
    silence(SERVER, "veth0")
    start = time.monotonic()
    c.send(b"x" * 1400)
    while time.monotonic() - start < 120:
        small = [at for at, n in seen if 0 < n < 1400]
        if small:
            stop.set()
            return small[0] - start
        time.sleep(0.01)
    return None


MEASURES = {
    "smaller-segments": smaller_segments,
    "connect": connect_timeout,
    "synack": synack_lifetime,
    "keepalive": keepalive_detection,
    "data": data_abort,
    "orphan": orphan_abort,
    "finwait2": fin_wait2,
}

def apply_sysctls():
    """CLIENT_SYSCTLS / SERVER_SYSCTLS: "key=value;key=value" for each side."""
    for var, netns in (("CLIENT_SYSCTLS", None), ("SERVER_SYSCTLS", "srv")):
        for item in filter(None, os.environ.get(var, "").split(";")):
            key, value = item.split("=", 1)
            path = "/proc/sys/" + key.replace(".", "/")
            prefix = f"ip netns exec {netns} " if netns else ""
            sh(f"{prefix}sh -c 'printf %s \"{value}\" > {path}'")


if __name__ == "__main__":
    what = sys.argv[1]
    setup()
    apply_sysctls()
    if what == "queue":
        print(json.dumps({"count": accept_queue(int(sys.argv[2]))}))
    elif what == "ports":
        print(json.dumps(port_rate(float(sys.argv[2]))))
    else:
        print(json.dumps({"seconds": MEASURES[what]()}))
    sys.stdout.flush()
    os._exit(0)
