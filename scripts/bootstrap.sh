#!/usr/bin/env bash
# Set up (idempotently) the plain-machine environment in .venv/ at the repository root:
#   - Debian packages for headless rendering (EGL / OSMesa), when missing and we are root;
#   - a virtual environment with the ROS 2 Kilted wheels, torch, transformers, MuJoCo ... (requirements.txt);
#   - molmo_ros_interfaces built with CMake and installed into the environment's prefix;
#   - molmo_ros installed in editable mode (console scripts in .venv/bin/);
#   - .venv/bin/python replaced by a small launcher that sets LD_LIBRARY_PATH and AMENT_PREFIX_PATH before
#     the interpreter starts, so `import rclpy` never re-executes the process and nothing needs activating.
# Each step is skipped when a stamp says its inputs have not changed. Usage: scripts/bootstrap.sh [--quiet]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMPS="$VENV/.stamps"
PYVER="3.11"
QUIET=0
[[ "${1:-}" == "--quiet" ]] && QUIET=1

say() { [[ $QUIET == 1 ]] || echo "[bootstrap] $*" >&2; }
digest() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS" && echo "$2" >"$STAMPS/$1"; }

# 1. Debian packages for headless rendering.
DEB_PKGS=(libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 cmake g++ make)
missing=()
for p in "${DEB_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[bootstrap] missing Debian packages (run as root): apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# 2. The virtual environment and its launcher.
BASE_PY="${MOLMO_ROS_BASE_PYTHON:-$(command -v python$PYVER || command -v python3)}"
if [[ ! -x "$VENV/bin/python-real" ]]; then
  say "creating $VENV"
  rm -rf "$VENV"
  "$BASE_PY" -m venv "$VENV"
  real="$(readlink -f "$VENV/bin/python$PYVER")"
  rm -f "$VENV/bin/python" "$VENV/bin/python3" "$VENV/bin/python$PYVER"
  ln -s "$real" "$VENV/bin/python-real"
  cp "$ROOT/scripts/venv_python.sh" "$VENV/bin/python$PYVER"
  chmod +x "$VENV/bin/python$PYVER"
  ln -s "python$PYVER" "$VENV/bin/python"
  ln -s "python$PYVER" "$VENV/bin/python3"
fi
# Keep the launcher current when scripts/venv_python.sh changes.
cmp -s "$ROOT/scripts/venv_python.sh" "$VENV/bin/python$PYVER" || cp "$ROOT/scripts/venv_python.sh" "$VENV/bin/python$PYVER"
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)

# 3. Python packages.
req_digest="$(digest "$ROOT/requirements.txt" "$ROOT/requirements-ros.txt")"
if ! stamp_ok requirements "$req_digest"; then
  say "installing Python packages (requirements.txt); the first time takes a few minutes"
  "${PIP[@]}" install -r "$ROOT/requirements.txt" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # The bootstrapper wheel (if some package pulls it in) re-executes every interpreter; the launcher
  # already sets what it would, so its hook is removed.
  rm -f "$VENV/lib/python$PYVER/site-packages/ros_wheels_bootstrapper.pth"
  stamp_set requirements "$req_digest"
fi

# 4. molmo_ros_interfaces, built with CMake into the environment's prefix.
iface_digest="$(cd "$ROOT" && find molmo_ros_interfaces -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)"
if ! stamp_ok interfaces "$iface_digest"; then
  say "building molmo_ros_interfaces"
  build="$VENV/build/molmo_ros_interfaces"
  rm -rf "$build"
  mkdir -p "$build"
  log="$build/build.log"
  if ! (cd "$build" &&
    export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" &&
    cmake "$ROOT/molmo_ros_interfaces" \
      -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release &&
    make -j"$(nproc)" install) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[bootstrap] building molmo_ros_interfaces failed; full log: $log" >&2
    exit 1
  fi
  stamp_set interfaces "$iface_digest"
fi

# 5. molmo_ros itself, editable, with its console scripts.
pkg_digest="$(digest "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT/package.xml")"
if ! stamp_ok package "$pkg_digest"; then
  say "installing molmo_ros (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  stamp_set package "$pkg_digest"
fi
say "environment ready: $VENV"
