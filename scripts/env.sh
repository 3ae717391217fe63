# Sourced by the scripts: makes the build tree usable without installing
# (the plugin, the GI typelibs, the libraries) and picks Debian's python3.
# GI needs the libraries on LD_LIBRARY_PATH: the typelib names only the soname.
# Source it from the repository root.
# bash and zsh know where this file is; POSIX sh does not, so there the
# current directory must be the repository root (or HYRSM_ROOT set).
if [ -z "${HYRSM_ROOT:-}" ] && [ -n "${BASH_SOURCE:-}" ]; then
  HYRSM_ROOT=$(cd "$(dirname "$BASH_SOURCE")/.." && pwd)
fi
HYRSM_ROOT=${HYRSM_ROOT:-$(pwd)}
if [ ! -f "$HYRSM_ROOT/scripts/env.sh" ]; then
  echo "scripts/env.sh: $HYRSM_ROOT is not the gst-hyrsm repository root:" \
    "source it from there, or set HYRSM_ROOT" >&2
  return 1 2>/dev/null || exit 1
fi
HYRSM_BUILDDIR=${HYRSM_BUILDDIR:-$HYRSM_ROOT/build}
export HYRSM_BUILDDIR
export GST_PLUGIN_PATH="$HYRSM_BUILDDIR/src/gst/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export GST_REGISTRY_1_0="$HYRSM_BUILDDIR/registry.bin"
export GI_TYPELIB_PATH="$HYRSM_BUILDDIR/src/hyrsm:$HYRSM_BUILDDIR/src/gst${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}"
export LD_LIBRARY_PATH="$HYRSM_BUILDDIR/src/hyrsm:$HYRSM_BUILDDIR/src/gst${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$HYRSM_BUILDDIR/gst-hyrsm:$PATH"
# gst-hyrsm's Python helpers, uninstalled (installed: DATADIR/gst-hyrsm)
export HYRSM_SCRIPT_DIR="$HYRSM_ROOT/tools"
PYTHON=/usr/bin/python3
