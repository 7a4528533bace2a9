"""Every scene compiles and steps without MuJoCo warnings; objects rest on the table without intersecting."""

from __future__ import annotations

import itertools

import mujoco
import numpy as np
import pytest

from molmo_ros.sim import robot
from molmo_ros.sim.catalogue import KINDS
from molmo_ros.sim.layout import SceneLayout, place_object, sample_layout
from molmo_ros.sim.scene import write_scene


def _settle(model: mujoco.MjModel, seconds: float) -> mujoco.MjData:
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    for _ in range(round(seconds / model.opt.timestep)):
        mujoco.mj_step(model, data)
    return data


def _object_contacts(model: mujoco.MjModel, data: mujoco.MjData, names: list[str]) -> list[tuple[str, str]]:
    bodies = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n): n for n in names}
    pairs = []
    for c in data.contact[: data.ncon]:
        b1, b2 = model.geom_bodyid[c.geom[0]], model.geom_bodyid[c.geom[1]]
        if b1 in bodies and b2 in bodies:
            pairs.append((bodies[b1], bodies[b2]))
    return pairs


@pytest.mark.parametrize(
    ("layout_name", "seed"),
    [("mixed", s) for s in range(8)] + [("place", 0), ("place", 7), ("sort", 4), ("sort", 28)],
)
def test_seeded_scene_compiles_steps_without_warnings_and_objects_stay_apart(sim_config, layout_name, seed):
    layout = sample_layout(seed, sim_config, layout=layout_name)
    path = write_scene(layout, sim_config)
    model = mujoco.MjModel.from_xml_path(str(path))
    assert model.opt.timestep <= 0.002
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, sim_config.camera_name) >= 0
    data = _settle(model, 1.0)
    assert [w.number for w in data.warning] == [0] * len(data.warning)
    assert not _object_contacts(model, data, layout.names())
    for obj in layout.objects:
        position = data.body(obj.name).xpos
        # Resting where placed: it neither fell through the table nor slid or rolled away.
        np.testing.assert_allclose(position, obj.position, atol=3e-3)


def test_every_kind_in_every_colour_compiles(sim_config):
    # Two rows of objects covering all kinds, each in a different colour: one scene, one compile.
    colours = itertools.cycle(["red", "green", "blue", "yellow", "orange", "purple"])
    objects = tuple(
        place_object(kind, next(colours), (0.4 + 0.12 * (i // 3), -0.15 + 0.15 * (i % 3)), 0.4 * i)
        for i, kind in enumerate(KINDS)
    )
    layout = SceneLayout(None, objects)
    model = mujoco.MjModel.from_xml_path(str(write_scene(layout, sim_config)))
    data = _settle(model, 0.5)
    assert [w.number for w in data.warning] == [0] * len(data.warning)
    assert not _object_contacts(model, data, layout.names())


def test_scene_file_includes_the_robot_file(sim_config):
    path = write_scene(sample_layout(0, sim_config), sim_config)
    text = path.read_text()
    assert f'<include file="{robot.robot_file(sim_config.resolved_cache_dir).name}"' in text
    # Writing the same scene again reuses the file (same content, same name).
    assert write_scene(sample_layout(0, sim_config), sim_config) == path
