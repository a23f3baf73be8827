# Source me (bash/zsh): `source tools/env.sh` puts the project's environment in the current shell:
# .venv first on PATH, the venv's ROS 2 prefix on AMENT_PREFIX_PATH / CMAKE_PREFIX_PATH, and the
# colcon workspace install/ (vision_msgs, retinaface_interfaces, retinaface_ros) sourced on top.
# Build that environment first with `make setup`. With RETINAFACE_LANE=jazzy it is the Jazzy lane's instead
# (.venv-jazzy + install-jazzy/, built by `make setup-jazzy`; see tools/lane.sh).
if [ -n "${BASH_SOURCE[0]:-}" ]; then
  _rf_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
else  # zsh
  _rf_root="$(cd "$(dirname "${(%):-%x}")/.." && pwd)"
fi
case "${RETINAFACE_LANE:-kilted}" in
  jazzy) _rf_venv="$_rf_root/.venv-jazzy" _rf_install="$_rf_root/install-jazzy" _rf_setup="make setup-jazzy" ;;
  *) _rf_venv="$_rf_root/.venv" _rf_install="$_rf_root/install" _rf_setup="make setup" ;;
esac
if [ ! -x "$_rf_venv/bin/python" ]; then
  echo "tools/env.sh: $_rf_venv is missing: run \`$_rf_setup\` first" >&2
  return 1 2>/dev/null || exit 1
fi
case ":$PATH:" in *":$_rf_venv/bin:"*) ;; *) export PATH="$_rf_venv/bin:$PATH" ;; esac
export VIRTUAL_ENV="$_rf_venv"
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$_rf_venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$_rf_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
case ":${CMAKE_PREFIX_PATH:-}:" in
  *":$_rf_venv:"*) ;;
  *) export CMAKE_PREFIX_PATH="$_rf_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}" ;;
esac
export RETINAFACE_SHARED="${RETINAFACE_SHARED:-$(cd "$_rf_root/.." && pwd)/shared}"
# colcon's setup scripts read unset variables: lift `set -u` while sourcing them.
case "$-" in *u*) _rf_nounset=1; set +u ;; *) _rf_nounset=0 ;; esac
if [ -f "$_rf_install/setup.bash" ] && [ -n "${BASH_VERSION:-}" ]; then
  # shellcheck disable=SC1091
  source "$_rf_install/setup.bash"
elif [ -f "$_rf_install/setup.zsh" ] && [ -n "${ZSH_VERSION:-}" ]; then
  source "$_rf_install/setup.zsh"
else
  echo "tools/env.sh: $_rf_install is not built: run \`$_rf_setup\`" >&2
fi
[ "$_rf_nounset" = 1 ] && set -u
# The package's executables (detector_node, trainer_node, image_publisher, retinaface): `ros2 run` finds them
# in lib/retinaface_ros, and without ros2cli they are simply on PATH.
_rf_lib="$_rf_install/retinaface_ros/lib/retinaface_ros"
if [ -d "$_rf_lib" ]; then
  case ":$PATH:" in *":$_rf_lib:"*) ;; *) export PATH="$_rf_lib:$PATH" ;; esac
fi
unset _rf_lib
unset _rf_root _rf_venv _rf_install _rf_setup _rf_nounset
