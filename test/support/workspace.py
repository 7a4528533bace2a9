"""The README's ROS workspace recipe in a temporary folder: clone into src/molmo_ros, link the nested interface
package beside it, colcon build (the .venv's colcon and ROS wheels stand in for a ROS distribution; the CMake
arguments are what the wheels need and a distribution does not)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
COLCON = VENV / "bin" / "colcon"
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "build", "install", "log", "out", "__pycache__", "*.egg-info"
)


def make_workspace(where: Path) -> Path:
    """README steps: clone into src/molmo_ros, then link the nested interface package next to it."""
    workspace = where / "molmo_ws"
    src = workspace / "src"
    src.mkdir(parents=True)
    shutil.copytree(ROOT, src / "molmo_ros", ignore=IGNORED)
    (src / "molmo_ros_interfaces").symlink_to(Path("molmo_ros") / "molmo_ros_interfaces")
    return workspace


def colcon(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COLCON), *args], cwd=workspace, capture_output=True, text=True, timeout=900, check=False
    )


def build(workspace: Path) -> subprocess.CompletedProcess:
    """``colcon build`` with the wheels' CMake arguments."""
    return colcon(
        workspace,
        "build",
        "--cmake-args",
        f"-DPython3_EXECUTABLE={VENV / 'bin' / 'python'}",
        f"-DCMAKE_PREFIX_PATH={VENV}",
    )
