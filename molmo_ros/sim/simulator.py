"""The tabletop simulator: a Panda, a table with objects, an RGB-D camera; stepping, control and ground truth.

Plain Python (no ROS): the bridge node (:mod:`molmo_ros.nodes.sim`), the CLI, the training data generator and
the tests all drive this class. It is not thread-safe: callers that step and read from several threads hold
their own lock and render from :meth:`Simulator.snapshot` copies.

Frames: world = ``panda_link0`` (the robot base, on the table top at z = 0), z up, meters and radians.
Quaternions in this module's outputs are (x, y, z, w), as in ROS and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from molmo_ros.geometry.camera import CameraIntrinsics
from molmo_ros.geometry.deproject import project
from molmo_ros.geometry.transforms import RigidTransform
from molmo_ros.planning.trajectory import JointTrajectory
from molmo_ros.sim import robot
from molmo_ros.sim.camera import CameraRenderer, Frame, intrinsics_from_model, optical_pose
from molmo_ros.sim.config import SimConfig
from molmo_ros.sim.errors import SceneError, SimError
from molmo_ros.sim.layout import PlacedObject, SceneLayout, sample_layout
from molmo_ros.sim.scene import write_scene
from molmo_ros.sim.trajectory import TrajectoryFollower

#: Joints reported in joint states, in this order (the arm, then both fingers).
JOINT_NAMES: tuple[str, ...] = (*robot.ARM_JOINTS, *robot.FINGER_JOINTS)


@dataclass
class ObjectState:
    """Ground truth for one object.

    position: (3,) world position of the object origin (m); quaternion: (4,) x, y, z, w; extents: (3,)
    bounding-box size (m); rest_z: origin height after the reset settled (m); height_above_rest (m);
    touching_fingers: number of finger pads (0-2) in contact; lifted: at least ``lift_height`` above rest;
    grasped: lifted while touching a finger; pixel: (u, v) projection of the origin in the camera image
    (OpenCV convention), None when behind the camera or outside the image; mask_pixels: visible pixels in the
    last segmentation (None when not rendered).
    """

    name: str
    kind: str
    colour: str
    position: np.ndarray
    quaternion: np.ndarray
    extents: np.ndarray
    rest_z: float
    height_above_rest: float
    touching_fingers: int
    lifted: bool
    grasped: bool
    pixel: tuple[float, float] | None
    mask_pixels: int | None = None

    @property
    def label(self) -> str:
        return f"{self.colour} {self.kind}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (lists and floats)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "colour": self.colour,
            "position": [round(float(v), 5) for v in self.position],
            "quaternion_xyzw": [round(float(v), 6) for v in self.quaternion],
            "extents": [round(float(v), 5) for v in self.extents],
            "pixel_center": None
            if self.pixel is None
            else [round(self.pixel[0], 2), round(self.pixel[1], 2)],
            "mask_pixels": self.mask_pixels,
            "height_above_rest": round(self.height_above_rest, 5),
            "lifted": self.lifted,
            "grasped": self.grasped,
        }


@dataclass
class SceneState:
    """Ground truth of the whole scene at simulated `time` (s); `masks` maps object names to (H, W) bools."""

    time: float
    seed: int | None
    objects: list[ObjectState]
    camera_pose: RigidTransform
    intrinsics: CameraIntrinsics
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def grasped(self) -> str | None:
        """Name of the object held by the gripper (lifted and touching a finger), if any."""
        held = [o.name for o in self.objects if o.grasped]
        return held[0] if held else None

    def object(self, name: str) -> ObjectState:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise SceneError(f"no object named {name!r} (objects: {[o.name for o in self.objects]})")


class Simulator:
    """A MuJoCo tabletop scene with a position-controlled Panda and a fixed RGB-D camera.

    Args:
        config: the simulation parameters (``config/sim.yaml``).
        layout: a hand-made layout; None draws one from ``config.seed``.
    """

    def __init__(self, config: SimConfig, layout: SceneLayout | None = None) -> None:
        self.config = config
        self.model: mujoco.MjModel
        self.data: mujoco.MjData
        self.camera: CameraRenderer | None = None
        self.reset(layout=layout)

    # ------------------------------------------------------------------------------------------ building
    def reset(
        self, seed: int | None = None, layout: SceneLayout | None = None, num_objects: int | None = None
    ) -> SceneLayout:
        """Build a new scene (from `layout`, else from `seed`, else from ``config.seed``) and let it settle.

        The arm starts at MoveIt's ready pose with the gripper open. Returns the layout.
        """
        if layout is None:
            layout = sample_layout(self.config.seed if seed is None else int(seed), self.config, num_objects)
        path = write_scene(layout, self.config)
        try:
            model = mujoco.MjModel.from_xml_path(str(path))
        except ValueError as exc:
            raise SceneError(f"scene {path} does not compile: {exc}") from exc
        self.layout = layout
        self.model, self.data = model, mujoco.MjData(model)
        self._index_model()
        if self.camera is not None:
            self.camera.close()
        self.camera = CameraRenderer(
            model,
            self.config.camera_name,
            self.config.image_width,
            self.config.image_height,
            self.config.render_shadows,
        )
        self.intrinsics = intrinsics_from_model(
            model, self.config.camera_name, self.config.image_width, self.config.image_height
        )
        mujoco.mj_resetDataKeyframe(model, self.data, 0)
        self.set_gripper_force(self.config.gripper_force)
        self.follower = TrajectoryFollower(robot.ARM_JOINTS)
        self.follower.hold(np.array(robot.HOME_ARM))
        mujoco.mj_forward(model, self.data)
        self.camera_pose = optical_pose(
            model, self.data, self.config.camera_name, self.config.world_frame, self.config.camera_frame
        )
        self.rest_z: dict[str, float] = {}
        self.run(self.config.settle_time)
        self.rest_z = {o.name: float(self.data.xpos[self._object_body[o.name]][2]) for o in layout.objects}
        return layout

    def _index_model(self) -> None:
        m = self.model

        def ids(kind: mujoco.mjtObj, names: tuple[str, ...]) -> np.ndarray:
            found = np.array([mujoco.mj_name2id(m, kind, n) for n in names])
            if np.any(found < 0):
                raise SceneError(f"the scene lacks some of {names}")
            return found

        joints = ids(mujoco.mjtObj.mjOBJ_JOINT, JOINT_NAMES)
        self._qadr = m.jnt_qposadr[joints]
        self._dofadr = m.jnt_dofadr[joints]
        self._arm_actuators = ids(mujoco.mjtObj.mjOBJ_ACTUATOR, robot.ARM_JOINTS)
        self._gripper_actuator = int(ids(mujoco.mjtObj.mjOBJ_ACTUATOR, (robot.GRIPPER_ACTUATOR,))[0])
        self._finger_bodies = set(ids(mujoco.mjtObj.mjOBJ_BODY, robot.FINGER_BODIES).tolist())
        names = tuple(o.name for o in self.layout.objects)
        bodies = ids(mujoco.mjtObj.mjOBJ_BODY, names) if names else np.zeros(0, int)
        self._object_body = dict(zip(names, bodies.tolist(), strict=True))
        # geom id -> index of the object it belongs to (-1: robot, table, floor).
        body_to_object = {b: i for i, b in enumerate(bodies.tolist())}
        self._geom_object = np.array([body_to_object.get(int(b), -1) for b in m.geom_bodyid])

    # ------------------------------------------------------------------------------------------ stepping
    @property
    def time(self) -> float:
        """Simulated time (s) since the reset (including the settling time)."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    def step(self, n: int = 1) -> None:
        """Advance the physics by `n` steps, feeding the trajectory reference to the arm's servos each step."""
        for _ in range(int(n)):
            ref = self.follower.reference(self.data.time)
            if ref is not None:
                self.data.ctrl[self._arm_actuators] = ref
            mujoco.mj_step(self.model, self.data)

    def run(self, seconds: float) -> None:
        """Advance the physics by `seconds` of simulated time (rounded to whole steps)."""
        self.step(round(seconds / self.timestep))

    def run_until_idle(self, timeout: float, settle: float = 0.3) -> None:
        """Run until the active trajectory has ended, then `settle` s more; at most `timeout` s."""
        end = self.time + timeout
        while self.follower.active(self.time) and self.time < end:
            self.step(10)
        self.run(min(settle, max(0.0, end - self.time)))

    def warnings(self) -> dict[str, int]:
        """MuJoCo's warning counters that are non-zero (contact buffer full, bad qacc, ...): {name: count}."""
        return {
            mujoco.mjtWarning(i).name: int(w.number) for i, w in enumerate(self.data.warning) if w.number > 0
        }

    # ------------------------------------------------------------------------------------------ robot
    @property
    def joint_names(self) -> tuple[str, ...]:
        return JOINT_NAMES

    def joint_positions(self) -> np.ndarray:
        """(9,) positions of JOINT_NAMES (rad for the arm, m for each finger)."""
        return self.data.qpos[self._qadr].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self._dofadr].copy()

    def joint_efforts(self) -> np.ndarray:
        """(9,) actuator forces at each joint (N m, N), gravity compensation excluded."""
        return self.data.qfrc_actuator[self._dofadr].copy()

    def set_arm_positions(self, q: np.ndarray) -> None:
        """Teleport the arm to `q` (7,) rad and hold it there (tests, resets); velocities are zeroed."""
        q = np.asarray(q, dtype=float)
        self.data.qpos[self._qadr[:7]] = q
        self.data.qvel[self._dofadr[:7]] = 0.0
        self.data.ctrl[self._arm_actuators] = q
        self.follower.hold(q)
        mujoco.mj_forward(self.model, self.data)

    def move_object(self, name: str, xy: tuple[float, float]) -> None:
        """Teleport object `name` to rest at `xy` (m, world frame) on the table, as if a person moved it
        (tests of recovery); its rest height is kept, its velocity zeroed."""
        if name not in self._object_body:
            raise SceneError(f"no object {name!r} in the scene (has: {', '.join(self._object_body)})")
        joint = self.model.body_jntadr[self._object_body[name]]
        qpos, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        self.data.qpos[qpos : qpos + 3] = (float(xy[0]), float(xy[1]), self.rest_z[name])
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def follow(self, trajectory: JointTrajectory, start_time: float | None = None) -> None:
        """Execute `trajectory` (arm joints only), starting at simulated `start_time` (default: now)."""
        fingers = [n for n in trajectory.joint_names if n in robot.FINGER_JOINTS]
        if fingers:
            raise SimError(f"finger joints {fingers} are driven by the gripper command, not by trajectories")
        current = self.data.qpos[self._qadr[:7]]
        now = self.time
        self.follower.start(trajectory, current, now if start_time is None else start_time, now)

    @property
    def trajectory_active(self) -> bool:
        return self.follower.active(self.time)

    def set_gripper_force(self, force: float) -> None:
        """Limit the pinch force of each finger to `force` N (the actuator drives the finger tendon)."""
        if not 0.0 < force <= 140.0:
            raise SimError(f"gripper force {force} N must be in (0, 140]")
        # Tendon length = mean of the two finger travels, so a tendon force F pushes each finger with F / 2.
        self.model.actuator_forcerange[self._gripper_actuator] = (-2.0 * force, 2.0 * force)

    def set_gripper(self, closed: bool, force: float | None = None) -> None:
        """Close (force-limited, until the fingers meet an object) or open the gripper."""
        if force is not None:
            self.set_gripper_force(force)
        self.data.ctrl[self._gripper_actuator] = 0.0 if closed else robot.FINGER_OPEN

    @property
    def gripper_opening(self) -> float:
        """Distance between the fingers (m): 0 closed, 0.08 fully open."""
        return float(self.data.qpos[self._qadr[7]] + self.data.qpos[self._qadr[8]])

    def site_pose(self, name: str = robot.TCP_SITE) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and rotation matrix (3, 3) of a site (default: the tool centre point)."""
        site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
        if site < 0:
            raise SimError(f"no site named {name!r}")
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    # ------------------------------------------------------------------------------------------ camera
    def snapshot(self) -> mujoco.MjData:
        """A copy of the current state, to render from another thread while the physics goes on."""
        out = mujoco.MjData(self.model)
        mujoco.mj_copyData(out, self.model, self.data)
        return out

    def render(
        self,
        rgb: bool = True,
        depth: bool = True,
        segmentation: bool = False,
        data: mujoco.MjData | None = None,
    ) -> Frame:
        """Render the camera: rgb (H, W, 3) uint8, depth (H, W) float32 m, segmentation (H, W) geom ids."""
        assert self.camera is not None
        return self.camera.render(self.data if data is None else data, rgb, depth, segmentation)

    def masks(self, segmentation: np.ndarray) -> dict[str, np.ndarray]:
        """Per-object (H, W) bool masks from a segmentation image of geom ids."""
        index = np.where(segmentation >= 0, self._geom_object[np.clip(segmentation, 0, None)], -1)
        return {o.name: index == i for i, o in enumerate(self.layout.objects)}

    def project_world(self, points: np.ndarray) -> np.ndarray:
        """Project (N, 3) world points to (N, 2) pixels (NaN behind the camera) with the published camera."""
        optical = self.camera_pose.inverse().apply(np.asarray(points, dtype=float).reshape(-1, 3))
        return project(self.intrinsics, optical).reshape(-1, 2)

    # ------------------------------------------------------------------------------------------ truth
    def _contacts_with_fingers(self) -> dict[int, set[int]]:
        """{object index: finger bodies it touches} from the current contacts."""
        touching: dict[int, set[int]] = {}
        body = self.model.geom_bodyid
        for contact in self.data.contact[: self.data.ncon]:
            g1, g2 = int(contact.geom[0]), int(contact.geom[1])
            for own, other in ((g1, g2), (g2, g1)):
                obj, finger = int(self._geom_object[own]), int(body[other])
                if obj >= 0 and finger in self._finger_bodies:
                    touching.setdefault(obj, set()).add(finger)
        return touching

    def object_states(self, segmentation: np.ndarray | None = None) -> list[ObjectState]:
        """Ground truth for every object now (pixel counts when a segmentation image is given)."""
        touching = self._contacts_with_fingers()
        masks = self.masks(segmentation) if segmentation is not None else {}
        states = []
        for i, obj in enumerate(self.layout.objects):
            states.append(self._object_state(obj, len(touching.get(i, ())), masks.get(obj.name)))
        return states

    def _object_state(self, obj: PlacedObject, fingers: int, mask: np.ndarray | None) -> ObjectState:
        body = self._object_body[obj.name]
        position = self.data.xpos[body].copy()
        w, x, y, z = self.data.xquat[body]
        rest_z = self.rest_z.get(obj.name, float(position[2]))
        height = float(position[2] - rest_z)
        lifted = height >= self.config.lift_height
        pixel = self.project_world(position)[0]
        inside = bool(np.all(np.isfinite(pixel))) and bool(self.intrinsics.contains(pixel[0], pixel[1]))
        return ObjectState(
            name=obj.name,
            kind=obj.kind,
            colour=obj.colour,
            position=position,
            quaternion=np.array([x, y, z, w]),
            extents=np.array(obj.shape.extents),
            rest_z=rest_z,
            height_above_rest=height,
            touching_fingers=fingers,
            lifted=lifted,
            grasped=lifted and fingers > 0,
            pixel=(float(pixel[0]), float(pixel[1])) if inside else None,
            mask_pixels=None if mask is None else int(mask.sum()),
        )

    def scene_state(self, with_masks: bool = False) -> SceneState:
        """Ground truth of the scene; `with_masks` renders a segmentation image for per-object masks."""
        segmentation = (
            self.render(rgb=False, depth=False, segmentation=True).segmentation if with_masks else None
        )
        return SceneState(
            time=self.time,
            seed=self.layout.seed,
            objects=self.object_states(segmentation),
            camera_pose=self.camera_pose,
            intrinsics=self.intrinsics,
            masks=self.masks(segmentation) if segmentation is not None else {},
        )

    def grasped_object(self) -> str | None:
        """Name of the object held by the gripper (lifted >= lift_height and touching a finger), if any."""
        return self.scene_state().grasped

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()
