"""`molmo-ros sim --snapshot/--json`: a picture and the ground truth of a seeded scene, without ROS."""

from __future__ import annotations

import json

import cv2
import numpy as np

from molmo_ros.cli import main
from molmo_ros.sim.simulator import Simulator


def test_snapshot_and_json_ground_truth(tmp_path, capsys, sim_config):
    png = tmp_path / "scene.png"
    code = main(["sim", "--seed", "3", "--width", "160", "--height", "120", "--snapshot", str(png), "--json"])
    assert code == 0
    picture = cv2.imread(str(png))
    assert picture.shape == (120, 160, 3) and picture.std() > 10
    truth = json.loads(capsys.readouterr().out)
    assert truth["seed"] == 3 and truth["camera"]["width"] == 160
    sim = Simulator(sim_config.replace(seed=3))
    try:
        expected = sim.scene_state().objects
    finally:
        sim.close()
    assert [o["name"] for o in truth["objects"]] == [o.name for o in expected]
    for got, want in zip(truth["objects"], expected, strict=True):
        assert got["colour"] == want.colour and got["kind"] == want.kind
        np.testing.assert_allclose(got["position"], want.position, atol=1e-4)
        u, v = got["pixel_center"]
        assert 0 <= u < 160 and 0 <= v < 120
        assert got["mask_pixels"] > 0


def test_node_command_line_carries_the_overrides():
    import argparse

    from molmo_ros.cli.sim import node_command_line

    args = argparse.Namespace(
        params_file=None,
        seed=7,
        num_objects=None,
        width=None,
        height=None,
        camera_rate=30.0,
        real_time_factor=None,
        ros_args=["--ros-args", "-r", "a:=b"],
    )
    line = node_command_line(args)
    assert line[:2] == ["--ros-args", "--params-file"] and line[2].endswith("config/sim.yaml")
    assert line[3:] == ["-p", "seed:=7", "-p", "camera_rate:=30.0", "-r", "a:=b"]
