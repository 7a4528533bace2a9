"""The layers stand on their own: planning, pointing and the nodes import and plan without the simulator, and
no module below ``molmo_ros/nodes`` imports rclpy."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A finder placed first on sys.meta_path that refuses mujoco, as on a machine without it.
_BLOCK = """
import importlib.abc, sys
class _NoMujoco(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mujoco" or name.startswith("mujoco."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, _NoMujoco())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    script = _BLOCK + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_block_works():
    result = _run("import mujoco")
    assert result.returncode != 0 and "blocked by the test" in result.stderr


def test_planning_pointing_and_nodes_import_and_plan_without_mujoco():
    result = _run(
        """
        import numpy as np
        from scipy.spatial.transform import Rotation
        import molmo_ros.planning.embedded, molmo_ros.nodes.pick, molmo_ros.nodes.pointer
        import molmo_ros.pointing.query, molmo_ros.planning.moveit_backend, molmo_ros.sim.layout
        from molmo_ros.planning.embedded import EmbeddedPlanner
        from molmo_ros.planning.planner import JointState, PlanningScene, PoseWaypoint
        from molmo_ros.planning.description import ARM_JOINTS, HOME_ARM
        planner = EmbeddedPlanner()
        start = JointState(ARM_JOINTS, np.array(HOME_ARM))
        goal = PoseWaypoint(np.array([0.45, 0.1, 0.25]), Rotation.from_euler("x", np.pi), name="goal")
        result = planner.plan(start, [goal], PlanningScene(table_z=0.0))
        assert result.ok, result.error
        assert "mujoco" not in sys.modules
        print("planned", result.trajectory.positions.shape)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "planned" in result.stdout


def test_no_library_module_imports_rclpy():
    offenders = []
    for path in sorted((ROOT / "molmo_ros").rglob("*.py")):
        if path.relative_to(ROOT / "molmo_ros").parts[0] in ("nodes", "cli", "bringup"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "rclpy" or n.startswith(("rclpy.", "molmo_ros.nodes")) for n in names):
                offenders.append(f"{path.relative_to(ROOT)}: {names}")
    assert offenders == []
