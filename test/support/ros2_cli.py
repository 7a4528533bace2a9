"""The real ROS 2 command-line tools and launch library for tests: a distribution's `ros2` when one is on PATH,
else ``../shared/ros2-cli`` installed once into the test cache (about 80 s the first time)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "ros2-cli"


def cache_dir() -> Path:
    return Path(os.environ.get("MOLMO_ROS_CACHE") or Path(tempfile.gettempdir()) / f"molmo_ros-{os.getuid()}")


def ros2_environment() -> dict[str, str] | None:
    """The environment in which `ros2` and the launch library work, or None when neither a distribution nor
    ../shared/ros2-cli is there."""
    if shutil.which("ros2") and os.environ.get("ROS_DISTRO"):
        return dict(os.environ)
    if not (SHARED / "install.sh").is_file():
        return None
    python = ROOT / ".venv" / "bin" / "python"
    # Per interpreter: the installed `ros2` script's shebang names it, so another checkout's cache would not run.
    prefix = cache_dir() / f"ros2-cli-{hashlib.sha256(str(python).encode()).hexdigest()[:12]}"
    subprocess.run(
        [str(SHARED / "install.sh"), str(prefix), str(python)], check=True, capture_output=True, timeout=900
    )
    return sourced(dict(os.environ), prefix / "env.sh")


def sourced(env: dict[str, str], script: Path) -> dict[str, str]:
    """`env` after ``. script`` in bash (``set +u``: colcon's setup.sh reads unset variables)."""
    command = f"set +u; . {script}; env -0"
    dump = subprocess.run(
        ["bash", "-c", command], env=env, check=True, capture_output=True, timeout=60
    ).stdout
    return dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)


def require_ros2_environment() -> dict[str, str]:
    """:func:`ros2_environment`, or a skip whose reason says how to enable the test."""
    import pytest

    env = ros2_environment()
    if env is None:
        pytest.skip(
            "no `ros2`: install a ROS 2 distribution, or place ../shared/ros2-cli beside the repository"
        )
    return env


def package_prefix(where: Path) -> Path:
    """An ament prefix in `where` in which ``get_package_share_directory("molmo_ros")`` finds this checkout's
    launch/ and config/ (for loading launch files; the colcon test builds the real install space)."""
    share = where / "share"
    (share / "ament_index" / "resource_index" / "packages").mkdir(parents=True, exist_ok=True)
    (share / "ament_index" / "resource_index" / "packages" / "molmo_ros").touch()
    (share / "molmo_ros").mkdir(exist_ok=True)
    for name in ("launch", "config", "package.xml"):
        link = share / "molmo_ros" / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    return where
