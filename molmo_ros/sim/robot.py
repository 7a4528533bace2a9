"""The Franka Panda for MuJoCo, generated from the `example-robot-data` package (the single robot description).

The vendor URDF is read, never edited: its DAE visuals (which MuJoCo cannot load) are dropped, the
``package://example-robot-data/...`` mesh paths are resolved to the installed files, MuJoCo compiles the result,
and the saved MJCF is completed with what a URDF cannot say: default classes (visual and collision geoms
separated, as in MuJoCo Menagerie), gravity compensation, joint armature, position actuators for the seven arm
joints and a force-limited gripper on a tendon coupling both fingers, the tool centre point site, and contact
exclusions taken from the vendor SRDF. Link and joint names stay those of MoveIt's Panda configuration.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import mujoco

from molmo_ros.planning.description import (
    ARM_JOINTS,
    DISTRIBUTION,
    FINGER_JOINTS,
    HOME_ARM,
    PANDA_URDF,
    panda_srdf_path,
    panda_urdf_path,
    resolve_package_uri,
    robot_data_root,
)
from molmo_ros.sim.errors import RobotDescriptionError

# Re-exported: the simulator's users know the description's names as molmo_ros.sim.robot.<name>.
__all__ = [
    "ARM_JOINTS",
    "FINGER_JOINTS",
    "HOME_ARM",
    "panda_srdf_path",
    "panda_urdf_path",
    "robot_data_root",
    "robot_file",
]

FINGER_BODIES: tuple[str, str] = ("panda_leftfinger", "panda_rightfinger")
GRIPPER_ACTUATOR = "panda_gripper"
TCP_SITE = "panda_tcp"
#: Opening of one finger when the gripper is fully open (m); the hand opens 2 x 0.04 = 8 cm.
FINGER_OPEN = 0.04

# Bump when the generated MJCF changes, so cached files are rebuilt.
_GENERATOR_VERSION = "4"


@dataclass(frozen=True)
class ActuatorGains:
    """Position-servo gains of one arm joint: stiffness kp (N m/rad) and the damping ratio (1 = critical)."""

    kp: float
    dampratio: float = 1.0


# Stiff shoulder and elbow, softer wrist (its motors give 12 N m, against 87 N m); with gravity compensation
# these track MoveIt trajectories to within a few milliradians.
ARM_GAINS: tuple[ActuatorGains, ...] = (
    ActuatorGains(4500.0),
    ActuatorGains(4500.0),
    ActuatorGains(3500.0),
    ActuatorGains(3500.0),
    ActuatorGains(2000.0),
    ActuatorGains(2000.0),
    ActuatorGains(2000.0),
)
#: Gripper servo stiffness on the finger tendon (N/m): stiff enough that the force limit, not the stiffness,
#: sets the pinch force on any catalogue object (4-6.5 cm wide); the limit is set by the Simulator.
GRIPPER_KP = 8000.0


def resolved_urdf(drop_dae_visuals: bool = True) -> ET.Element:
    """The vendor Panda URDF as an XML tree with mesh paths resolved (and DAE visuals dropped, for MuJoCo)."""
    root_dir = robot_data_root()
    robot = ET.parse(root_dir / PANDA_URDF).getroot()
    for link in robot.findall("link"):
        for visual in link.findall("visual"):
            mesh = visual.find("geometry/mesh")
            if drop_dae_visuals and mesh is not None and mesh.get("filename", "").lower().endswith(".dae"):
                link.remove(visual)
    for mesh in robot.iter("mesh"):
        mesh.set("filename", resolve_package_uri(mesh.get("filename", ""), root_dir))
    return robot


def srdf_disabled_pairs() -> list[tuple[str, str]]:
    """Link pairs the vendor SRDF declares never (or only adjacently) in collision."""
    srdf = ET.parse(panda_srdf_path()).getroot()
    return [(e.get("link1", ""), e.get("link2", "")) for e in srdf.iter("disable_collisions")]


def _compile_urdf(robot: ET.Element) -> ET.Element:
    """Let MuJoCo's URDF importer build the kinematic tree; return its saved MJCF."""
    # Keep folders in mesh paths and the fixed-joint links (panda_link8, panda_hand, panda_hand_tcp) as bodies,
    # so every MoveIt frame exists in the simulation.
    extension = ET.SubElement(robot, "mujoco")
    ET.SubElement(extension, "compiler", strippath="false", fusestatic="false", discardvisual="false")
    try:
        model = mujoco.MjModel.from_xml_string(ET.tostring(robot, encoding="unicode"))
    except ValueError as exc:
        raise RobotDescriptionError(f"MuJoCo cannot load the Panda URDF: {exc}") from exc

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panda.xml"
        mujoco.mj_saveLastXML(str(path), model)
        return ET.parse(path).getroot()


def _add_defaults(mjcf: ET.Element) -> None:
    default = ET.Element("default")
    panda = ET.SubElement(default, "default", {"class": "panda"})
    # Armature stands for the motors' reflected rotor inertia; it also keeps the wrist numerically stable.
    ET.SubElement(panda, "joint", armature="0.1", damping="1")
    ET.SubElement(panda, "position", inheritrange="1")
    visual = ET.SubElement(panda, "default", {"class": "panda_visual"})
    ET.SubElement(visual, "geom", contype="0", conaffinity="0", group="2", material="panda_white")
    collision = ET.SubElement(panda, "default", {"class": "panda_collision"})
    ET.SubElement(collision, "geom", group="3", rgba="0.5 0.5 0.9 1")
    fingertip = ET.SubElement(collision, "default", {"class": "panda_fingertip"})
    # Rubber pads: high sliding friction and torsional friction, so a pinched object neither slips nor spins.
    ET.SubElement(
        fingertip,
        "geom",
        condim="4",
        friction="1.5 0.05 0.0001",
        solref="0.004 1",
        solimp="0.95 0.99 0.001",
        priority="1",
    )
    finger = ET.SubElement(panda, "default", {"class": "panda_finger"})
    # Armature (0.1 kg) keeps the stiff gripper servo stable at a 2 ms step; damping limits the closing speed.
    ET.SubElement(finger, "joint", armature="0.1", damping="20")
    mjcf.insert(1, default)


def _add_materials(mjcf: ET.Element) -> None:
    asset = mjcf.find("asset")
    if asset is None:
        asset = ET.SubElement(mjcf, "asset")
    ET.SubElement(
        asset, "material", name="panda_white", rgba="0.95 0.95 0.95 1", specular="0.5", shininess="0.3"
    )
    ET.SubElement(
        asset, "material", name="panda_dark", rgba="0.22 0.22 0.24 1", specular="0.5", shininess="0.3"
    )


def _split_geoms(body: ET.Element) -> None:
    """Each imported geom becomes a collision geom plus a non-colliding visual twin, recursively."""
    name = body.get("name", "")
    if name:
        # Gravity compensation as in the real arm's controller, so the position servos only track motion.
        body.set("gravcomp", "1")
        body.set("childclass", "panda")
    dark = name in {"panda_link7", "panda_link8", "panda_hand", *FINGER_BODIES}
    for index, geom in enumerate(list(body.findall("geom"))):
        position = list(body).index(geom)
        geom.set("name", f"{name}_collision{index}")
        is_tip = name in FINGER_BODIES and index == 3  # the URDF's "rubber tip with which to grasp"
        geom.set("class", "panda_fingertip" if is_tip else "panda_collision")
        visual = ET.Element("geom", {k: v for k, v in geom.attrib.items() if k not in ("name", "class")})
        visual.set("class", "panda_visual")
        if dark:
            visual.set("material", "panda_dark")
        body.insert(position, visual)
    for joint in body.findall("joint"):
        if joint.get("name") in FINGER_JOINTS:
            joint.set("class", "panda_finger")
        # The URDF's tiny damping values are replaced by the class defaults.
        joint.attrib.pop("damping", None)
    for child in body.findall("body"):
        _split_geoms(child)


def _add_tcp_site(mjcf: ET.Element) -> None:
    tcp = mjcf.find(".//body[@name='panda_hand_tcp']")
    if tcp is None:
        raise RobotDescriptionError("the Panda URDF has no panda_hand_tcp link")
    ET.SubElement(tcp, "site", name=TCP_SITE, size="0.005", rgba="1 0 0 0.5", group="4")


def _add_gripper_and_actuators(mjcf: ET.Element) -> None:
    tendon = ET.SubElement(mjcf, "tendon")
    fixed = ET.SubElement(tendon, "fixed", name=GRIPPER_ACTUATOR)
    # Tendon length = mean finger travel, so the actuator's control is the opening of one finger (0..0.04 m).
    for joint in FINGER_JOINTS:
        ET.SubElement(fixed, "joint", joint=joint, coef="0.5")
    equality = mjcf.find("equality")
    if equality is not None:
        # The URDF mimic joint; stiffer than the default so both fingers stay symmetric under load.
        for eq in equality.findall("joint"):
            eq.set("solimp", "0.95 0.99 0.001")
            eq.set("solref", "0.005 1")
    actuator = ET.SubElement(mjcf, "actuator")
    for joint, gains in zip(ARM_JOINTS, ARM_GAINS, strict=True):
        ET.SubElement(
            actuator,
            "position",
            {
                "class": "panda",
                "name": joint,
                "joint": joint,
                "kp": f"{gains.kp:g}",
                "dampratio": f"{gains.dampratio:g}",
            },
        )
    # forcerange is replaced per scene by the configured grasp force (see scene.py).
    ET.SubElement(
        actuator,
        "position",
        {
            "class": "panda",
            "name": GRIPPER_ACTUATOR,
            "tendon": GRIPPER_ACTUATOR,
            "kp": f"{GRIPPER_KP:g}",
            "dampratio": "1",
            "ctrlrange": f"0 {FINGER_OPEN:g}",
            "forcerange": "-140 140",
        },
    )


def _add_contact_exclusions(mjcf: ET.Element) -> None:
    contact = ET.SubElement(mjcf, "contact")
    bodies = {b.get("name") for b in mjcf.iter("body")}
    for link1, link2 in srdf_disabled_pairs():
        if link1 in bodies and link2 in bodies:
            ET.SubElement(contact, "exclude", body1=link1, body2=link2)


def build_panda_mjcf() -> str:
    """The Panda robot file (MJCF text): kinematics and collision meshes from example-robot-data, plus ours."""
    mjcf = _compile_urdf(resolved_urdf())
    mjcf.set("model", "panda")
    compiler = mjcf.find("compiler")
    if compiler is not None:
        compiler.set("autolimits", "true")
    _add_defaults(mjcf)
    _add_materials(mjcf)
    worldbody = mjcf.find("worldbody")
    if worldbody is None:
        raise RobotDescriptionError("MuJoCo's import of the Panda URDF has no worldbody")
    for body in worldbody.findall("body"):
        _split_geoms(body)
    _add_tcp_site(mjcf)
    _add_gripper_and_actuators(mjcf)
    _add_contact_exclusions(mjcf)
    ET.indent(mjcf)
    return ET.tostring(mjcf, encoding="unicode")


def robot_file(cache_dir: Path) -> Path:
    """Write (once per robot-data version) the Panda robot file into `cache_dir` and return its path."""
    root = robot_data_root()
    version = importlib.metadata.version(DISTRIBUTION)
    key = hashlib.sha256(f"{_GENERATOR_VERSION}|{version}|{root}|{mujoco.__version__}".encode()).hexdigest()[
        :12
    ]
    path = Path(cache_dir) / f"panda_{key}.xml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(path)}.tmp")
        tmp.write_text(build_panda_mjcf())
        tmp.replace(path)  # atomic: concurrent processes never read a half-written file
    return path
