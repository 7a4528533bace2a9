"""The simulated RGB-D camera: intrinsics and pose from the MuJoCo camera, and headless rendering.

Conventions: intrinsics follow ROS ``CameraInfo`` / OpenCV (pixel centres at integer coordinates, so the
principal point of an ideal W x H camera is ((W - 1) / 2, (H - 1) / 2)); the camera pose is that of the
*optical* frame (x right, y down, z forward, REP 103), while a MuJoCo camera looks along its -z with y up.
Depth images hold metric depth along the optical axis (z of the optical frame), in meters, not the z-buffer.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.geometry.camera import CameraIntrinsics
from molmo_ros.geometry.transforms import RigidTransform
from molmo_ros.sim.errors import SceneError

# MuJoCo camera axes (x right, y up, looking along -z) -> optical axes (x right, y down, z forward).
_MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


def camera_id(model: mujoco.MjModel, name: str) -> int:
    cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cam < 0:
        raise SceneError(f"the scene has no camera named {name!r}")
    return cam


def intrinsics_from_model(model: mujoco.MjModel, name: str, width: int, height: int) -> CameraIntrinsics:
    """Pinhole intrinsics of MuJoCo camera `name` rendered at `width` x `height` pixels.

    MuJoCo's cameras are ideal pinholes with square pixels, defined by the vertical field of view ``fovy``:
    fy = (H / 2) / tan(fovy / 2) = fx; no distortion.
    """
    cam = camera_id(model, name)
    fovy = math.radians(float(model.cam_fovy[cam]))
    focal = 0.5 * height / math.tan(0.5 * fovy)
    return CameraIntrinsics(
        focal, focal, 0.5 * (width - 1), 0.5 * (height - 1), width, height, "plumb_bob", (0.0,) * 5
    )


def optical_pose(
    model: mujoco.MjModel, data: mujoco.MjData, name: str, world_frame: str, optical_frame: str
) -> RigidTransform:
    """Pose of the camera's optical frame in the world frame (``p_world = T.apply(p_optical)``).

    Needs ``data`` after mj_forward / mj_kinematics (a fixed camera's pose never changes anyway).
    """
    cam = camera_id(model, name)
    rotation = data.cam_xmat[cam].reshape(3, 3) @ _MUJOCO_TO_OPTICAL
    return RigidTransform(
        Rotation.from_matrix(rotation), data.cam_xpos[cam].copy(), world_frame, optical_frame
    )


@dataclass
class Frame:
    """One rendered camera frame.

    time: simulated time (s) of the state rendered; rgb: (H, W, 3) uint8 or None; depth: (H, W) float32
    metric depth in meters (inf where nothing is hit within the far plane) or None; segmentation: (H, W) int32
    geom ids (-1: background) or None.
    """

    time: float
    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None
    segmentation: np.ndarray | None = None


def load_triton_before_gl() -> None:
    """Import Triton (when installed) before the first OpenGL context of the process exists.

    Mesa's software renderer (behind EGL and OSMesa here) and Triton each bring their own LLVM. Once Mesa's
    is loaded, importing Triton crashes the process, and torch imports Triton lazily (for example when
    transformers loads a model), so a process that renders and then loads a model would die. Loaded in the
    other order both work (seen with mujoco 4.0.0, Debian 12's Mesa, torch 2.14.1's Triton).
    """
    if importlib.util.find_spec("triton") is not None:
        importlib.import_module("triton")


class CameraRenderer:
    """Renders one MuJoCo camera headless (EGL or OSMesa, per ``MUJOCO_GL``), from any thread.

    An OpenGL context may be current in one thread only, and MuJoCo's renderer makes its context current in
    the thread that creates, uses or frees it. So every GL call runs in one worker thread owned by this
    object: callers from any thread (a multi-threaded ROS executor) submit work and wait for the result.
    Call :meth:`close` when done (the scene is replaced); it also runs when the object is garbage-collected.
    """

    def __init__(self, model: mujoco.MjModel, camera: str, width: int, height: int, shadows: bool) -> None:
        self.model = model
        self.camera = camera
        self.camera_id = camera_id(model, camera)
        self.width, self.height, self.shadows = int(width), int(height), bool(shadows)
        # The far clipping plane (m): depth there means "nothing was hit".
        self.far = float(model.vis.map.zfar * model.stat.extent)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujoco-render")
        self._state: dict[str, mujoco.Renderer | None] = {"renderer": None}
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._worker, self._state)

    def _renderer(self) -> mujoco.Renderer:
        renderer = self._state["renderer"]
        if renderer is None:
            load_triton_before_gl()
            try:
                renderer = mujoco.Renderer(self.model, self.height, self.width)
            except Exception as exc:
                raise SceneError(
                    f"cannot create a {self.width}x{self.height} headless renderer ({exc}); set MUJOCO_GL=egl "
                    "or MUJOCO_GL=osmesa and install libegl1/libosmesa6"
                ) from exc
            self._state["renderer"] = renderer
        return renderer

    def _update(self, renderer: mujoco.Renderer, data: mujoco.MjData) -> None:
        renderer.update_scene(data, self.camera_id)
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.shadows
        renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False

    def render(
        self, data: mujoco.MjData, rgb: bool = True, depth: bool = True, segmentation: bool = False
    ) -> Frame:
        """Render what the camera sees in `data` (positions must be current: call mj_forward first).

        Raises:
            SceneError: the renderer was closed (its scene was replaced) or cannot be created.
        """
        if self._closed:
            raise SceneError("this camera's scene was replaced; render from the current one")
        try:
            future = self._worker.submit(self._render, data, rgb, depth, segmentation)
        except RuntimeError as exc:  # the worker was shut down by a concurrent close()
            raise SceneError("this camera's scene was replaced; render from the current one") from exc
        return future.result()

    def _render(self, data: mujoco.MjData, rgb: bool, depth: bool, segmentation: bool) -> Frame:
        renderer = self._renderer()
        frame = Frame(time=float(data.time))
        if rgb:
            self._update(renderer, data)
            frame.rgb = renderer.render()
        if depth:
            renderer.enable_depth_rendering()
            try:
                self._update(renderer, data)
                z = renderer.render()
            finally:
                renderer.disable_depth_rendering()
            # The far plane means no surface: report inf (ROS REP 118: +inf = too far to measure).
            z[z >= 0.999 * self.far] = np.inf
            frame.depth = z.astype(np.float32, copy=False)
        if segmentation:
            renderer.enable_segmentation_rendering()
            try:
                self._update(renderer, data)
                seg = renderer.render()
            finally:
                renderer.disable_segmentation_rendering()
            ids = seg[..., 0].copy()
            ids[seg[..., 1] != int(mujoco.mjtObj.mjOBJ_GEOM)] = -1
            frame.segmentation = ids
        return frame

    def close(self) -> None:
        """Free the OpenGL context (in its own thread) and stop the worker thread."""
        self._closed = True
        self._finalizer()


def _shutdown(worker: ThreadPoolExecutor, state: dict[str, mujoco.Renderer | None]) -> None:
    """Close the renderer in the worker thread that owns its context, then stop that thread."""

    def close() -> None:
        renderer, state["renderer"] = state["renderer"], None
        if renderer is not None:
            renderer.close()

    try:
        worker.submit(close).result()
    except RuntimeError:
        pass  # the interpreter is exiting and takes no new work: the context goes with the process
    finally:
        worker.shutdown(wait=True)


def encode_depth(depth_m: np.ndarray, encoding: str) -> np.ndarray:
    """Depth in meters -> the array of a ROS depth image (REP 118).

    ``32FC1``: float32 meters as they are (inf where nothing was hit); ``16UC1``: uint16 millimeters, with 0
    for no measurement (inf, NaN, or beyond 65.535 m).
    """
    if encoding == "32FC1":
        return np.ascontiguousarray(depth_m, dtype=np.float32)
    if encoding == "16UC1":
        mm = np.rint(np.nan_to_num(depth_m, nan=0.0, posinf=0.0) * 1000.0)
        mm[(mm < 0) | (mm > np.iinfo(np.uint16).max)] = 0
        return mm.astype(np.uint16)
    raise SceneError(f"depth encoding {encoding!r} is not one of 32FC1, 16UC1")
