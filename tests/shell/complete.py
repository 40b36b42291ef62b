"""Types into a real interactive bash on a pseudo-terminal, for
tests/completion.rs: `complete.py 'KEYS'...`, each argument a line of
keystrokes (\t is TAB) typed after tcptune's completion is registered the
way the package does it (the script `tcptune completions bash` prints).
Prints what the terminal showed. Standard library only."""

import os
import pty
import select
import sys
import time


def read_all(fd, quiet=0.5, limit=10.0):
    """Everything the terminal prints until it has been quiet for `quiet` s."""
    out = b""
    start = last = time.monotonic()
    while time.monotonic() - start < limit:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            last = time.monotonic()
        elif time.monotonic() - last > quiet:
            break
    return out.decode(errors="replace")


pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, PS1="$ ", TERM="dumb", INPUTRC="/dev/null", HOME=os.environ.get("TCPTUNE_SCRATCH", "/nonexistent"))
    os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
read_all(fd)
os.write(fd, b"source <(tcptune completions bash)\n")
read_all(fd)
for keys in sys.argv[1:]:
    os.write(fd, keys.encode().replace(b"\\t", b"\t"))
    print(read_all(fd), end="")
    print("\n--- line done")
    os.write(fd, b"\x15")  # ^U: clear the line
    read_all(fd, quiet=0.2)
os.write(fd, b"exit\n")
