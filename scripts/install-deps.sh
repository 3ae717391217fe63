#!/bin/sh
# Installs every Debian package gst-hyrsm needs to build, run the demo,
# the tests and the benchmarks, on Debian 12 (bookworm) and Debian 13
# (trixie): nothing is to be installed by hand. When a test needs a
# package, it is named here (scripts/check-fresh.sh bookworm|trixie proves
# the list on a fresh root of either). Only names both releases have are
# used (clang, llvm and libclang-rt-dev are the distribution's default LLVM:
# 14 on bookworm, 19 on trixie), so the list is one; /etc/os-release says
# which release this is, and another one is refused here rather than half
# installed. Idempotent; uses sudo when not run as root.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
case "$codename" in
  bookworm|trixie) ;;
  *)
    echo "install-deps.sh: this is '${codename:-an unknown system}'" \
      "(/etc/os-release); gst-hyrsm's packages are listed for Debian 12" \
      "(bookworm) and Debian 13 (trixie). Install the equivalents of the" \
      "list in this script by hand, or set HYRSM_DEPS_RELEASE=bookworm|trixie" \
      "to try a release's names." >&2
    [ -n "${HYRSM_DEPS_RELEASE:-}" ] || exit 1 ;;
esac

# libopenblas0-pthread: Debian's torch (and numpy) take whatever
# libblas.so.3 points to; without it that is netlib's reference BLAS, which
# is not PyTorch's best CPU mode, the baseline the benchmarks compare with.
PACKAGES="
  build-essential meson ninja-build pkg-config xz-utils
  libglib2.0-dev libjson-glib-dev gobject-introspection libgirepository1.0-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-libav gstreamer1.0-x gir1.2-gstreamer-1.0
  gir1.2-gst-plugins-base-1.0
  libcairo2-dev libpango1.0-dev
  libmosquitto-dev mosquitto mosquitto-clients openssl
  libdnnl-dev
  python3 python3-gi python3-gst-1.0 python3-pytest python3-numpy python3-pil
  python3-torch python3-torchvision python3-yaml libopenblas0-pthread
  opencv-doc python3-mecavideo
  clang libclang-rt-dev llvm valgrind
  gstreamer1.0-plugins-bad libgstreamer-plugins-bad1.0-dev
  gir1.2-gst-plugins-bad-1.0
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing:$missing"
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 \
    install -y -q --no-install-recommends $missing
fi
