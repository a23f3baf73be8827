# Sourced by tools/setup_env.sh and tools/env.sh: the paths and versions of one test lane.
#
#   RETINAFACE_LANE=kilted (default): .venv, Python 3.11, requirements.txt, install/, with torch.
#   RETINAFACE_LANE=jazzy: .venv-jazzy, Python 3.12, requirements-jazzy.txt, install-jazzy/, no torch
#     (ROS 2 Jazzy wheels from PyPI; the package runs on the torch-free ONNX deployment path).
#
# Sets LANE, VENV, INSTALL, BUILD_BASE, LOG_BASE, REQUIREMENTS (relative to ROOT: its name is part of the
# set-up stamp), PY_VERSION, WITH_TORCH and find_python.
# Expects ROOT (the repository root).
LANE="${RETINAFACE_LANE:-kilted}"
case "$LANE" in
  kilted)
    VENV="$ROOT/.venv" INSTALL="$ROOT/install" BUILD_BASE="$ROOT/build" LOG_BASE="$ROOT/log"
    REQUIREMENTS=requirements.txt PY_VERSION=3.11 WITH_TORCH=1
    ;;
  jazzy)
    VENV="$ROOT/.venv-jazzy" INSTALL="$ROOT/install-jazzy" BUILD_BASE="$ROOT/build-jazzy"
    LOG_BASE="$ROOT/log-jazzy" REQUIREMENTS=requirements-jazzy.txt PY_VERSION=3.12 WITH_TORCH=0
    ;;
  *)
    echo "RETINAFACE_LANE=$LANE is not a lane: use kilted (default) or jazzy" >&2
    return 2 2>/dev/null || exit 2
    ;;
esac

# find_python VERSION: print the first Python VERSION among $PYTHON, pythonVERSION on PATH, the system's and
# pyenv's; fail when there is none.
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" "python$1" "/usr/bin/python$1" "$HOME"/.pyenv/versions/"$1".*/bin/python"$1"; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$1'.split('.'))))" \
        >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
