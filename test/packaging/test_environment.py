"""The plain-machine environment: .venv/bin/python and the console scripts work when called directly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

pytestmark = pytest.mark.skipif(not (VENV_BIN / "python-real").exists(), reason="no .venv (run bootstrap)")

# What a fresh login shell has: nothing activated, no ROS variables.
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def run_clean(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=CLEAN_ENV, capture_output=True, text=True, timeout=120, check=False)


def test_venv_python_imports_rclpy_and_interfaces_without_reexec():
    code = (
        "import sys, rclpy\n"
        "from molmo_ros_interfaces.srv import Point\n"
        "from molmo_ros_interfaces.action import Pick\n"
        "assert 'ros_wheels_bootstrapper' not in sys.modules, 'the re-executing bootstrapper ran'\n"
        "print(sys.executable)\n"
        "print(Point.Request().query == '' and Pick.Goal().query == '')\n"
    )
    result = run_clean(str(VENV_BIN / "python"), "-c", code)
    assert result.returncode == 0, result.stderr
    executable, ok = result.stdout.split()
    assert Path(executable).parent == VENV_BIN
    assert ok == "True"


def test_console_script_runs_without_activation():
    result = run_clean(str(VENV_BIN / "molmo-ros"), "info", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["components"]["rclpy"]["available"] is True
    assert facts["components"]["molmo_ros_interfaces"]["available"] is True


def test_tests_run_inside_the_environment():
    # The suite relies on the launcher's library path; running it with another interpreter would skip
    # the ROS tests silently.
    assert Path(sys.executable).parent == VENV_BIN
