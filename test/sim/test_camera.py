"""The published camera model is right: intrinsics and pose project ground truth onto the rendered pixels."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from molmo_ros.geometry.deproject import deproject
from molmo_ros.sim.simulator import Simulator


@pytest.fixture(scope="module")
def sim(sim_config):
    simulator = Simulator(sim_config.replace(seed=5))
    yield simulator
    simulator.close()


def test_intrinsics_follow_the_mujoco_fovy_and_opencv_pixel_centres(sim, sim_config):
    k = sim.intrinsics
    expected = 0.5 * sim_config.image_height / math.tan(math.radians(sim_config.camera_fovy) / 2)
    assert k.fx == pytest.approx(expected) and k.fy == pytest.approx(expected)
    assert (k.cx, k.cy) == ((sim_config.image_width - 1) / 2, (sim_config.image_height - 1) / 2)
    assert (k.width, k.height) == (sim_config.image_width, sim_config.image_height)


def test_camera_pose_is_the_optical_frame_looking_at_the_target(sim, sim_config):
    pose = sim.camera_pose
    np.testing.assert_allclose(pose.translation, sim_config.camera_position, atol=1e-9)
    forward = pose.rotation.apply([0.0, 0.0, 1.0])
    to_target = np.subtract(sim_config.camera_target, sim_config.camera_position)
    np.testing.assert_allclose(forward, to_target / np.linalg.norm(to_target), atol=1e-6)
    # Optical y points down in the image: its world z component is negative for a level camera.
    assert pose.rotation.apply([0.0, 1.0, 0.0])[2] < 0.0
    assert pose.parent_frame == sim_config.world_frame and pose.child_frame == sim_config.camera_frame
    # The launch file and the CLI give the nodes the pose computed from the config without MuJoCo: the same one.
    expected = sim_config.camera_pose()
    np.testing.assert_allclose(pose.translation, expected.translation, atol=1e-9)
    assert (pose.rotation * expected.rotation.inv()).magnitude() < 1e-6


def test_frame_shapes_and_types(sim, sim_config):
    frame = sim.render(rgb=True, depth=True, segmentation=True)
    h, w = sim_config.image_height, sim_config.image_width
    assert frame.rgb.shape == (h, w, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (h, w) and frame.depth.dtype == np.float32
    assert frame.segmentation.shape == (h, w)
    assert frame.rgb.std() > 10  # a picture, not a blank buffer


def _ray_depth(sim: Simulator, u: float, v: float) -> float:
    """Ground-truth depth (m, along the optical axis) at pixel (u, v), by casting a ray in the physics model."""
    direction_optical = deproject(sim.intrinsics, u, v, 1.0)
    direction = sim.camera_pose.rotation.apply(direction_optical)
    geomid = np.zeros(1, np.int32)
    visual_only = np.array([0, 0, 1, 0, 0, 0], np.uint8)  # group 2: what the camera renders
    distance = mujoco.mj_ray(
        sim.model,
        sim.data,
        sim.camera_pose.translation,
        direction / np.linalg.norm(direction),
        visual_only,
        1,
        -1,
        geomid,
    )
    # deproject at depth 1 gives a direction whose optical z is 1: depth = distance / |direction|.
    return distance / np.linalg.norm(direction) if distance >= 0 else math.inf


def test_object_centres_project_into_their_masks_and_depth_matches_ground_truth(sim):
    state = sim.scene_state(with_masks=True)
    frame = sim.render(rgb=False, depth=True)
    checked = 0
    for obj in state.objects:
        mask = state.masks[obj.name]
        if mask.sum() < 20:
            continue  # hidden behind another object or the arm
        u, v = sim.project_world(obj.position)[0]
        assert obj.pixel == pytest.approx((u, v))
        row, col = round(v), round(u)
        assert mask[row, col], f"{obj.name}: centre pixel ({u:.1f}, {v:.1f}) is not in its mask"
        # Depth at that pixel is the metric distance along the optical axis to the visible surface.
        expected = _ray_depth(sim, col, row)
        assert abs(float(frame.depth[row, col]) - expected) < 0.01, obj.name
        # And deprojecting it lands on the object: within its bounding sphere of the centre.
        point = sim.camera_pose.apply(deproject(sim.intrinsics, col, row, float(frame.depth[row, col])))
        assert np.linalg.norm(point - obj.position) < 0.5 * np.linalg.norm(obj.extents) + 0.01
        checked += 1
    assert checked >= 2


def test_depth_of_the_table_top_is_metric_and_not_the_z_buffer(sim):
    frame = sim.render(rgb=False, depth=True, segmentation=True)
    table = np.argwhere(
        sim.model.geom_bodyid[np.clip(frame.segmentation, 0, None)]
        == mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_BODY, "table")
    )
    rows, cols = table[:: max(1, len(table) // 25)].T
    for row, col in zip(rows, cols, strict=True):
        assert float(frame.depth[row, col]) == pytest.approx(_ray_depth(sim, col, row), abs=0.01)


def test_depth_encodings():
    from molmo_ros.sim.camera import encode_depth
    from molmo_ros.sim.errors import SceneError

    depth = np.array([[0.5, 1.2345], [np.inf, 70.0]], np.float32)
    np.testing.assert_array_equal(encode_depth(depth, "16UC1"), [[500, 1234], [0, 0]])
    assert encode_depth(depth, "32FC1").dtype == np.float32
    with pytest.raises(SceneError):
        encode_depth(depth, "8UC1")
