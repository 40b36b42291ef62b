# Sourced by tests and the benchmark inside `unshare -rnm` (a new user,
# network and mount namespace). It makes that namespace safe and empty:
#
# - /proc/sys becomes read-only except /proc/sys/net, which belongs to the
#   new network namespace. Running as root, `unshare -r` maps uid 0 to 0,
#   so without this a loader could write the host's global sysctls
#   (kernel.*, vm.*). With it, nothing outside this namespace can change.
# - /etc, /run, /usr/local/lib, /usr/lib/sysctl.d and /var/lib become empty
#   tmpfs (so apply's state and lock stay in the sandbox too), so
#   tcptune and the real loaders see only the files a test stages: the
#   directory $TCPTUNE_STAGE (if set) is copied into those mounts
#   (etc/sysctl.d/..., usr/lib/sysctl.d/..., etc/sysctl.conf, symlinks kept).
# - A private /dev: a tmpfs holding bind mounts of null, zero, random,
#   urandom, full and tty, its own devpts (ptmx, pts) and /dev/shm, so no test can replace a host device
#   node or write to the host's system log. /dev/log is the socket at
#   $TCPTUNE_LOG_SOCKET when set (the test harness binds it and reads the
#   audit records apply and revert send), else absent.
# - With TCPTUNE_STRICT set (the security tests, which try to escape): /
#   remounted read-only, leaving writable only the tmpfs mounts above and
#   $TCPTUNE_SCRATCH.
set -e
[ "$(readlink /proc/self/ns/net)" != "$TCPTUNE_HOST_NETNS" ] || { echo "sandbox: still in the host's network namespace" >&2; exit 97; }
# Mount points go in the caller's scratch directory, never the host's /tmp.
[ -n "${TCPTUNE_SCRATCH:-}" ] || { echo "sandbox: TCPTUNE_SCRATCH is not set" >&2; exit 97; }
sb=$TCPTUNE_SCRATCH/sandbox
mkdir -p "$sb"
mount -t tmpfs tmpfs "$sb"
mkdir "$sb/net" && mount --bind /proc/sys/net "$sb/net"
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && mount --bind "$sb/net" /proc/sys/net
cp /etc/ld.so.cache "$sb/" 2>/dev/null || true
# mode=755: root's directories, as on a real host (tmpfs defaults to 1777).
mount -t tmpfs -o mode=755 tmpfs /etc && { cp "$sb/ld.so.cache" /etc/ 2>/dev/null || true; }
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /usr/local/lib
mount -t tmpfs -o mode=755 tmpfs /usr/lib/sysctl.d
mount -t tmpfs -o mode=755 tmpfs /var/lib
if [ -n "${TCPTUNE_STAGE:-}" ] && [ -d "$TCPTUNE_STAGE" ]; then
  # Copy into the tmpfs mounts only: `cp -a` onto / would also reset the
  # timestamps of the host's own /usr and /usr/lib.
  for d in etc run usr/local/lib usr/lib/sysctl.d var/lib; do
    if [ -d "$TCPTUNE_STAGE/$d" ]; then cp -a "$TCPTUNE_STAGE/$d/." "/$d/"; fi
  done
fi
mkdir "$sb/dev"
devs="null zero random urandom full tty"
for d in $devs; do [ -e "/dev/$d" ] && touch "$sb/dev/$d" && mount --bind "/dev/$d" "$sb/dev/$d"; done
mkdir "$sb/dev/pts" && mount --rbind /dev/pts "$sb/dev/pts"
mount -t tmpfs -o mode=755 tmpfs /dev
for d in $devs; do [ -e "$sb/dev/$d" ] && touch "/dev/$d" && mount --bind "$sb/dev/$d" "/dev/$d"; done
# Pseudo-terminals from a devpts instance of the sandbox's own: the host's
# /dev/ptmx node, bound here, cannot find its devpts from a bind mount
# (the kernel's path_pts walks up from the node) and fails with ENOENT.
mkdir /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts 2>/dev/null ||
  mount --rbind "$sb/dev/pts" /dev/pts
ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
# POSIX shared memory (Python's multiprocessing, hence Ansible, needs it).
mkdir /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm
if [ -n "${TCPTUNE_LOG_SOCKET:-}" ]; then touch /dev/log && mount --bind "$TCPTUNE_LOG_SOCKET" /dev/log; fi
if [ -n "${TCPTUNE_STRICT:-}" ]; then
  mount --bind "$TCPTUNE_SCRATCH" "$TCPTUNE_SCRATCH"
  mount -o remount,bind,ro /
fi
set +e
