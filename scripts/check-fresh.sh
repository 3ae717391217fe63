#!/bin/sh
# check-fresh.sh [bookworm|trixie] [COMMAND]: proves that the README's
# commands work on a fresh Debian 12 (bookworm, the default) or Debian 13
# (trixie) machine. It makes a new root of that release with debootstrap
# (minbase: no compiler, no GStreamer, nothing of ours), clones the
# repository's HEAD into it (committed work only: uncommitted changes are
# not part of a clone), and runs COMMAND there as root through chroot,
# default the README's test command `./scripts/test.sh`. Only
# scripts/install-deps.sh can bring what COMMAND needs, so a package missing
# from it fails here as it would for a new user.
#
# Needs root (debootstrap, mount, chroot) and Debian's mirror; the root
# itself takes 1-3 minutes (debootstrap, then install-deps.sh's ~1.5 GB),
# then COMMAND runs. The root is build/fresh-root-RELEASE, removed at the
# end unless HYRSM_FRESH_KEEP=1. HYRSM_FRESH_ROOT=DIR puts it elsewhere, and
# HYRSM_FRESH_REUSE=1 reuses DIR when it is already there (its packages
# stay; a new clone of HEAD replaces the old one): scripts/ci-trixie.sh,
# CI's Debian 13 lane, keeps its root so between runs.
#
#   ./scripts/check-fresh.sh                            # Debian 12, tests
#   ./scripts/check-fresh.sh trixie                     # Debian 13, tests
#   ./scripts/check-fresh.sh trixie ./scripts/demo.sh   # Debian 13, demo
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
suite=bookworm
case "${1:-}" in
  bookworm|trixie) suite=$1; shift ;;
esac
command=${1:-./scripts/test.sh}
case $suite in
  bookworm) release="Debian 12" ;;
  trixie) release="Debian 13" ;;
esac
mirror=${HYRSM_FRESH_MIRROR:-http://deb.debian.org/debian}
root=${HYRSM_FRESH_ROOT:-$repo/build/fresh-root-$suite}
reuse=${HYRSM_FRESH_REUSE:-0}
mkdir -p "$repo/build"
log="$repo/build/check-fresh-$suite.log"

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

if [ -d "$root" ] && { [ "$reuse" != 1 ] || [ ! -x "$root/bin/sh" ] \
    || ! grep -q "VERSION_CODENAME=$suite" "$root/etc/os-release"; }; then
  remove_root
fi
trap cleanup EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
: > "$log"
if [ -d "$root" ]; then
  echo "== reusing the $release root $root"
else
  echo "== debootstrap $suite (minbase) into $root"
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$log" 2>&1 || {
    tail -20 "$log" >&2
    echo "check-fresh.sh: debootstrap failed (log: $log)" >&2
    rm -rf --one-file-system "$root"
    exit 1
  }
  echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/dev/shm"

echo "== git clone (HEAD $(git rev-parse --short HEAD)) into /root/gst-hyrsm"
rm -rf --one-file-system "$root/root/gst-hyrsm"
git clone -q --no-hardlinks "$repo" "$root/root/gst-hyrsm"
echo "== running '$command' in the $release root as root (log: $log)"
rm -f "$root/root/check-fresh.status"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/sh -c "cd /root/gst-hyrsm && $command; echo \$? > /root/check-fresh.status" \
  2>&1 | tee -a "$log"
status=$(cat "$root/root/check-fresh.status" 2>/dev/null || echo "none")
echo "== check-fresh.sh: '$command' in a $release root:" \
  "$( [ "$status" = 0 ] && echo PASSED || echo "FAILED (exit $status)" ) in" \
  "$(( ($(date +%s) - start) / 60 )) min (log: $log)"
[ "$status" = 0 ]
