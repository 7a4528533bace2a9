"""The one robot description: the Franka Panda URDF and SRDF of the `example-robot-data` package.

The simulator (:mod:`molmo_ros.sim.robot` converts the URDF for MuJoCo), the embedded planner and
robot_state_publisher all read these files, so there is no second Panda to drift from. (The moveit_py backend
plans with MoveIt's own Panda package and takes its tool offset from that.) No simulator needed.
"""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET
from pathlib import Path

from molmo_ros.errors import RobotDescriptionError

DISTRIBUTION = "example-robot-data"
PACKAGE_PREFIX = "package://example-robot-data/"
PANDA_URDF = "robots/panda_description/urdf/panda.urdf"
PANDA_SRDF = "robots/panda_description/srdf/panda.srdf"

ARM_JOINTS: tuple[str, ...] = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS: tuple[str, str] = ("panda_finger_joint1", "panda_finger_joint2")
#: MoveIt's "ready" pose of the Panda (rad), the SRDF's group state "default".
HOME_ARM = (0.0, -0.785398, 0.0, -2.35619, 0.0, 1.5707, 0.785398)


def robot_data_root() -> Path:
    """Folder ``share/example-robot-data`` of the installed example-robot-data wheel (cmeel prefix)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise RobotDescriptionError(
            f"the Python package {DISTRIBUTION!r} is not installed (pip install {DISTRIBUTION})"
        ) from exc
    root = Path(str(dist.locate_file("cmeel.prefix/share/example-robot-data")))
    if not (root / PANDA_URDF).is_file():
        raise RobotDescriptionError(f"{DISTRIBUTION} is installed but {root / PANDA_URDF} is missing")
    return root


def panda_urdf_path() -> Path:
    return robot_data_root() / PANDA_URDF


def panda_srdf_path() -> Path:
    return robot_data_root() / PANDA_SRDF


def resolve_package_uri(uri: str, root: Path | None = None) -> str:
    """``package://example-robot-data/x`` -> absolute path of x in the installed package; other URIs unchanged."""
    if uri.startswith(PACKAGE_PREFIX):
        return str((root or robot_data_root()) / uri[len(PACKAGE_PREFIX) :])
    return uri


# pinocchio reads an SRDF's disabled collision pairs and group states, not its groups or end effectors:
# these two read those elements themselves.
def srdf_group_joints(srdf: Path, group: str) -> list[str]:
    """The joints of SRDF `group`, following nested groups."""
    root = ET.parse(srdf).getroot()
    groups = {g.get("name"): g for g in root.findall("group")}
    if group not in groups:
        raise KeyError(f"{srdf} has no group {group!r} (groups: {sorted(groups)})")
    joints: list[str] = []
    for child in groups[group]:
        if child.tag == "joint":
            joints.append(child.get("name", ""))
        elif child.tag == "group":
            joints.extend(srdf_group_joints(srdf, child.get("name", "")))
    return joints


def srdf_end_effector_link(srdf: Path, group: str) -> str:
    """The parent link of the SRDF end effector attached to `group` (the tool frame)."""
    root = ET.parse(srdf).getroot()
    for ee in root.findall("end_effector"):
        if ee.get("group") == group or ee.get("parent_group") == group:
            return ee.get("parent_link", "")
    raise KeyError(f"{srdf} has no end effector for group {group!r}")
