"""The embedded planner's collision world: the robot's collision geometry (URDF + SRDF through pinocchio and
coal), the table and box obstacles, and which obstacles a motion may touch."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.planning.perception import Box
from molmo_ros.planning.planner import PlanningScene
from molmo_ros.planning.robot_model import RobotModel

TABLE = "table"
# Links that stand on the table: never checked against it.
_TABLE_EXEMPT = ("panda_link0",)


def table_box(table_z: float, padding: float = 0.0) -> Box:
    """The table as an obstacle: a 3 x 3 x 1 m box whose top is at `table_z` + `padding` (m), in front of the
    robot (every planner backend puts the same table into its scene)."""
    return Box(TABLE, np.array([0.3, 0.0, table_z - 0.5 + padding]), np.array([1.5, 1.5, 0.5]))


class CollisionWorld:
    """The robot's collision geometry plus the table and box obstacles, with per-motion allowed contacts."""

    def __init__(
        self, robot: RobotModel, scene: PlanningScene, collision_padding: float, table_padding: float
    ) -> None:
        """`collision_padding` (m) grows every obstacle box; the table's top is raised by `table_padding` (m)."""
        import coal
        import pinocchio as pin

        self.robot = robot
        geometry = pin.GeometryModel()
        for obj in robot.geometry.geometryObjects:
            geometry.addGeometryObject(obj)
        for pair in robot.geometry.collisionPairs:
            geometry.addCollisionPair(pin.CollisionPair(pair.first, pair.second))
        robot_geoms = list(range(len(robot.geometry.geometryObjects)))
        boxes = [table_box(scene.table_z, table_padding)]
        boxes += [b.padded(collision_padding) for b in scene.obstacles]
        self.pairs_by_obstacle: dict[str, list[int]] = {}
        for box in boxes:
            placement = pin.SE3(Rotation.from_euler("z", box.yaw).as_matrix(), np.asarray(box.centre, float))
            shape = coal.Box(*(2.0 * np.asarray(box.half_extents, float)))
            gid = geometry.addGeometryObject(pin.GeometryObject(box.name, 0, 0, placement, shape))
            ids = []
            for rid in robot_geoms:
                parent = robot.model.frames[robot.geometry.geometryObjects[rid].parentFrame].name
                link = robot.geometry.geometryObjects[rid].name.rsplit("_", 1)[0]
                if box.name == TABLE and (parent in _TABLE_EXEMPT or link in _TABLE_EXEMPT):
                    continue
                geometry.addCollisionPair(pin.CollisionPair(rid, gid))
                ids.append(len(geometry.collisionPairs) - 1)
            self.pairs_by_obstacle.setdefault(box.name, []).extend(ids)
        self.geometry = geometry
        self.data = pin.GeometryData(geometry)
        self.model_data = robot.model.createData()
        self._allowed: frozenset[str] = frozenset()

    def allow(self, names: frozenset[str]) -> None:
        """Ignore contacts with the named obstacles from now on (until the next call)."""
        if names == self._allowed:
            return
        for name, pairs in self.pairs_by_obstacle.items():
            for pair in pairs:
                if name in names:
                    self.data.deactivateCollisionPair(pair)
                else:
                    self.data.activateCollisionPair(pair)
        self._allowed = names

    def in_collision(self, q_full: np.ndarray) -> bool:
        import pinocchio as pin

        return bool(
            pin.computeCollisions(self.robot.model, self.model_data, self.geometry, self.data, q_full, True)
        )

    def colliding_pair(self, q_full: np.ndarray) -> str:
        """Names of the first colliding pair at `q_full` (for error messages), or ""."""
        import pinocchio as pin

        pin.computeCollisions(self.robot.model, self.model_data, self.geometry, self.data, q_full, False)
        for index, result in enumerate(self.data.collisionResults):
            if result.isCollision() and self.data.activeCollisionPairs[index]:
                pair = self.geometry.collisionPairs[index]
                objs = self.geometry.geometryObjects
                return f"{objs[pair.first].name} / {objs[pair.second].name}"
        return ""
