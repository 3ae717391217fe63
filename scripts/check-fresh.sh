#!/bin/sh
# check-fresh.sh [COMMAND]: proves that the README's commands work on a
# fresh Debian 12 machine. It makes a new Debian 12 root with debootstrap
# (minbase: no compiler, no GStreamer, nothing of ours) under
# build/fresh-root, clones the repository's HEAD into it (committed work
# only: uncommitted changes are not part of a clone), and runs COMMAND there
# as root through chroot, default the README's test command
# `./scripts/test.sh`. Only scripts/install-deps.sh can bring what COMMAND
# needs, so a package missing from it fails here as it would for a new user.
#
# Needs root (debootstrap, mount, chroot) and Debian's mirror; takes 20 to
# 40 minutes on 2 cores (the packages, then the whole suite). Not part of
# CI. The root is removed at the end unless HYRSM_FRESH_KEEP=1.
#
#   ./scripts/check-fresh.sh                        # the test command
#   ./scripts/check-fresh.sh ./scripts/demo.sh      # the demo command
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
command=${1:-./scripts/test.sh}
suite=bookworm
mirror=${HYRSM_FRESH_MIRROR:-http://deb.debian.org/debian}
root="$repo/build/fresh-root"
log="$repo/build/check-fresh.log"

if [ "$(id -u)" -ne 0 ]; then
  echo "check-fresh.sh: must run as root (debootstrap, mount, chroot)" >&2
  exit 2
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "check-fresh.sh: NOTE: uncommitted changes are not checked (HEAD is cloned)"
fi

unmount_all () {
  # Deepest first; a failed unmount must stop the removal below.
  for m in $(findmnt -rn -o TARGET | grep "^$root/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}
remove_root () {
  unmount_all
  if findmnt -rn -o TARGET | grep -q "^$root/"; then
    echo "check-fresh.sh: $root still has mounts; not removing it" >&2
    return 1
  fi
  rm -rf --one-file-system "$root"
}
cleanup () {
  # Processes the command left behind (a broker, a pipeline) hold the mounts.
  for pid in $(ls /proc | grep '^[0-9]*$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] && kill -9 "$pid" 2>/dev/null
  done
  if [ "${HYRSM_FRESH_KEEP:-0}" = 1 ]; then unmount_all; else remove_root; fi
}

command -v debootstrap >/dev/null 2>&1 || {
  echo "== installing debootstrap on this machine (for the check only)"
  apt-get -o DPkg::Lock::Timeout=900 update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 \
    install -y -q --no-install-recommends debootstrap
}

mkdir -p "$repo/build"
[ -d "$root" ] && remove_root
trap cleanup EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
echo "== debootstrap $suite (minbase) into $root"
debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$log" 2>&1 || {
  tail -20 "$log" >&2
  echo "check-fresh.sh: debootstrap failed (log: $log)" >&2
  exit 1
}
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/dev/shm"

echo "== git clone (HEAD $(git rev-parse --short HEAD)) into /root/gst-hyrsm"
git clone -q --no-hardlinks "$repo" "$root/root/gst-hyrsm"
echo "== running '$command' in the fresh root as root (log: $log)"
rm -f "$root/root/check-fresh.status"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/sh -c "cd /root/gst-hyrsm && $command; echo \$? > /root/check-fresh.status" \
  2>&1 | tee -a "$log"
status=$(cat "$root/root/check-fresh.status" 2>/dev/null || echo "none")
echo "== check-fresh.sh: '$command' in a fresh Debian 12 root:" \
  "$( [ "$status" = 0 ] && echo PASSED || echo "FAILED (exit $status)" ) in" \
  "$(( ($(date +%s) - start) / 60 )) min (log: $log)"
[ "$status" = 0 ]
