"""Paired benchmark runner, for tests/bench.sh (not a test).

`python3 tests/bench.py RUNS LABEL -- A... -- B... [-- B2... ...]` runs A
and B alternately (A, B, A, B...) RUNS times each, after one warm-up of
each, and prints one line: medians of wall time and CPU time (user + sys
of the child, from wait4) for both, their ratios A/B, and the peak
resident set of each (one extra run under ptrace). Several B commands are run one after another and summed
(e.g. `ss -s`, `ss -lnt` and `nstat` for the same information). Output
goes to a pipe this script drains, as a configuration-management hook
would read it, not to /dev/null. Standard library only.
"""

import os
import statistics
import sys
import time


def run_once(argv):
    """(wall seconds, cpu seconds, max rss KiB) of one run of argv."""
    r, w = os.pipe()
    start = time.perf_counter()
    pid = os.posix_spawnp(
        argv[0],
        argv,
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, w, 1),
            (os.POSIX_SPAWN_CLOSE, r),
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        ],
    )
    os.close(w)
    while os.read(r, 65536):
        pass
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"bench: {' '.join(argv)} exited {code}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


PTRACE_TRACEME, PTRACE_CONT, PTRACE_SETOPTIONS = 0, 7, 0x4200
PTRACE_O_TRACEEXIT = 0x40


def peak_rss_kib(argv):
    """The command's own peak resident set (VmHWM of its memory map, read
    at its exit stop under ptrace). wait4's ru_maxrss would include the
    memory of this Python process, which the child starts as."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    pid = os.fork()
    if pid == 0:
        devnull = os.open("/dev/null", os.O_WRONLY)
        os.dup2(devnull, 1)
        libc.ptrace(PTRACE_TRACEME, 0, None, None)
        os.execvp(argv[0], argv)
    os.waitpid(pid, 0)  # stopped at exec
    libc.ptrace(PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(PTRACE_O_TRACEEXIT))
    libc.ptrace(PTRACE_CONT, pid, None, None)
    peak = 0
    while True:
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            return peak
        if (status >> 8) == (5 | (6 << 8)):  # SIGTRAP | PTRACE_EVENT_EXIT
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1])
        libc.ptrace(PTRACE_CONT, pid, None, None)


def run_all(commands):
    total = [0.0, 0.0, 0]
    for argv in commands:
        wall, cpu, rss = run_once(argv)
        total[0] += wall
        total[1] += cpu
        total[2] = max(total[2], rss)
    return total


def main():
    runs = int(sys.argv[1])
    label = sys.argv[2]
    groups, current = [], None
    for word in sys.argv[3:]:
        if word == "--":
            current = []
            groups.append(current)
        else:
            current.append(word)
    a, others = groups[0], groups[1:]
    run_all([a])
    run_all(others)
    walls_a, cpus_a, walls_b, cpus_b = [], [], [], []
    for _ in range(runs):
        w, c, _ = run_all([a])
        walls_a.append(w)
        cpus_a.append(c)
        w, c, _ = run_all(others)
        walls_b.append(w)
        cpus_b.append(c)
    rss_a = peak_rss_kib(a)
    rss_b = max(peak_rss_kib(b) for b in others)
    med = statistics.median
    wa, wb, ca, cb = med(walls_a), med(walls_b), med(cpus_a), med(cpus_b)
    print(
        f"{label:<44} wall {wa * 1e3:8.2f} / {wb * 1e3:8.2f} ms = {wa / wb:5.2f}"
        f"   cpu {ca * 1e3:8.2f} / {cb * 1e3:8.2f} ms = {ca / cb if cb else float('inf'):5.2f}"
        f"   peak rss {rss_a / 1024:5.1f} / {rss_b / 1024:5.1f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
