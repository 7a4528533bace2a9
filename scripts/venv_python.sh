#!/usr/bin/env bash
# Launcher installed as .venv/bin/python3.11 (python and python3 point to it) by scripts/bootstrap.sh.
# The ROS 2 wheels keep their shared libraries in <venv>/lib and site-packages/ros_*.libs; the dynamic
# loader reads LD_LIBRARY_PATH only when a process starts, so it is set here, before the interpreter runs.
# `exec -a` keeps sys.executable pointing at this launcher, so console scripts and subprocesses come back here.
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$bin")"
libs="$venv/lib"
for d in "$venv"/lib/python3.11/site-packages/ros_*.libs; do
  [[ -d "$d" ]] && libs="$libs:$d"
done
case ":${LD_LIBRARY_PATH:-}:" in
  *":$venv/lib:"*) ;;
  *) export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
esac
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
# What the ros_wheels_bootstrapper would set by re-executing; set up front, so it never does.
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
# Headless rendering for MuJoCo unless the user chose a backend.
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-$MUJOCO_GL}"
exec -a "$bin/python3.11" "$bin/python-real" "$@"
