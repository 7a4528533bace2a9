"""The moveit_py backend: MoveIt 2's planning pipelines behind the :class:`Planner` interface.

Used when moveit_py is importable (a ROS 2 distribution with MoveIt 2; ``pick.launch.py planner:=moveit``
passes MoveIt's Panda configuration built by ``MoveItConfigsBuilder("moveit_resources_panda")``). Written on
moveit_py's documented API only (``MoveItPy``, ``get_planning_component``, ``set_start_state_to_current_state``
/ ``set_start_state``, ``set_goal_state(pose_stamped_msg=..., pose_link=...)``, ``PlanRequestParameters``,
``plan``, the planning scene monitor); it cannot run on machines without MoveIt, where the embedded planner is
used. MoveIt raises or returns empty results on failure; this wrapper turns both into our error codes.
The table (:func:`molmo_ros.planning.collision.table_box`, as the embedded planner sees it) and the perceived
boxes go into MoveIt's planning scene as collision objects; a waypoint's allowed contacts are removed from the
scene for its motion. The tool offset (pose link -> tool link) comes from MoveIt's own robot model, the
description it plans with. The trajectory is planned here and executed by the pick node, like the embedded
planner's. MoveIt's parameters: :mod:`molmo_ros.planning.moveit_config` (from launch as a ``/**`` parameter
file, so they reach MoveItPy's node; in-process, ``config_dict``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from molmo_ros.planning.collision import table_box
from molmo_ros.planning.grasp import UnreachableError
from molmo_ros.planning.planner import (
    JointState,
    Motion,
    Planner,
    PlanningError,
    PlanningScene,
    PlanResult,
    PoseWaypoint,
)
from molmo_ros.planning.trajectory import JointTrajectory


@dataclass(frozen=True)
class MoveItSettings:
    """config/planners.yaml, section ``moveit``: group, links, pipeline namespaces, time and scaling."""

    planning_group: str = "panda_arm"
    pose_link: str = "panda_link8"
    tool_link: str = "panda_hand_tcp"
    free_pipeline: str = "ompl_rrtc"
    linear_pipeline: str = "pilz_lin"
    planning_time_s: float = 2.0
    velocity_scaling: float = 0.3
    acceleration_scaling: float = 0.3

    @classmethod
    def from_mapping(cls, values: dict) -> MoveItSettings:
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown moveit planner settings: {unknown}")
        return cls(**values)


class MoveItPyPlanner(Planner):
    """Plans with MoveItPy (see the module docstring). `node_name` names MoveItPy's own node;
    `config_dict` is ``MoveItConfigsBuilder(...).to_moveit_configs().to_dict()`` when not given by launch."""

    name = "moveit"

    def __init__(
        self, settings: MoveItSettings, node_name: str = "molmo_pick_moveit", config_dict: dict | None = None
    ) -> None:
        from moveit.planning import MoveItPy

        from molmo_ros.planning.moveit_config import plan_request_namespaces

        known = plan_request_namespaces()
        missing = [p for p in (settings.free_pipeline, settings.linear_pipeline) if p not in known]
        if missing:
            raise PlanningError(f"config/moveit/moveit_py.yaml has no plan request namespaces {missing}")
        self.settings = settings
        self.moveit = MoveItPy(node_name=node_name, config_dict=config_dict)
        self.component = self.moveit.get_planning_component(settings.planning_group)
        self.robot_model = self.moveit.get_robot_model()
        self._tool_offset = self._tool_in_pose_link()

    def describe(self) -> str:
        return f"moveit_py ({self.settings.free_pipeline}, {self.settings.linear_pipeline})"

    def plan(
        self, start: JointState, waypoints: Sequence[PoseWaypoint], scene: PlanningScene, seed: int = 0
    ) -> PlanResult:
        began = time.perf_counter()
        try:
            trajectory, end = self._plan(start, waypoints, scene)
        except (PlanningError, UnreachableError) as err:
            return PlanResult(None, err, (time.perf_counter() - began) * 1e3)
        except Exception as err:  # MoveIt's own exceptions (RuntimeError and others) become our codes
            return PlanResult(None, PlanningError(f"MoveIt: {type(err).__name__}: {err}"), 0.0)
        return PlanResult(trajectory, None, (time.perf_counter() - began) * 1e3, end)

    # ------------------------------------------------------------------ helpers
    def _tool_in_pose_link(self) -> tuple[np.ndarray, Rotation]:
        """The tool link in the pose link, from MoveIt's robot model (a rigid offset: any state will do)."""
        from moveit.core.robot_state import RobotState

        state = RobotState(self.robot_model)
        state.set_to_default_values()
        state.update()
        pose = np.asarray(state.get_frame_transform(self.settings.pose_link))
        tool = np.asarray(state.get_frame_transform(self.settings.tool_link))
        relative = np.linalg.inv(pose) @ tool
        return relative[:3, 3].copy(), Rotation.from_matrix(relative[:3, :3])

    def _pose_msg(self, waypoint: PoseWaypoint, frame: str) -> Any:
        from geometry_msgs.msg import PoseStamped

        offset, offset_rotation = self._tool_offset
        # tool = pose_link * offset  =>  pose_link = tool * offset^-1
        link_rotation = waypoint.rotation * offset_rotation.inv()
        link_position = waypoint.position - link_rotation.apply(offset)
        msg = PoseStamped()
        msg.header.frame_id = frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in link_position)
        qx, qy, qz, qw = link_rotation.as_quat()
        msg.pose.orientation.x, msg.pose.orientation.y = float(qx), float(qy)
        msg.pose.orientation.z, msg.pose.orientation.w = float(qz), float(qw)
        return msg

    def _apply_scene(self, scene: PlanningScene, allowed: frozenset[str]) -> None:
        from moveit_msgs.msg import CollisionObject
        from shape_msgs.msg import SolidPrimitive

        monitor = self.moveit.get_planning_scene_monitor()
        with monitor.read_write() as planning_scene:
            for box in [table_box(scene.table_z), *scene.obstacles]:
                obj = CollisionObject()
                obj.id = box.name
                obj.header.frame_id = self.robot_model.model_frame
                if box.name in allowed:
                    obj.operation = CollisionObject.REMOVE
                else:
                    primitive = SolidPrimitive(type=SolidPrimitive.BOX)
                    primitive.dimensions = [float(2.0 * v) for v in box.half_extents]
                    obj.primitives.append(primitive)
                    pose = obj.pose
                    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in box.centre)
                    qx, qy, qz, qw = Rotation.from_euler("z", box.yaw).as_quat()
                    pose.orientation.x, pose.orientation.y = float(qx), float(qy)
                    pose.orientation.z, pose.orientation.w = float(qz), float(qw)
                    obj.primitive_poses.append(pose)
                    obj.operation = CollisionObject.ADD
                planning_scene.apply_collision_object(obj)
            planning_scene.current_state.update()

    def _plan(self, start: JointState, waypoints: Sequence[PoseWaypoint], scene: PlanningScene):
        from moveit.core.robot_state import RobotState
        from moveit.planning import PlanRequestParameters

        settings = self.settings
        state = RobotState(self.robot_model)
        state.set_joint_group_positions(settings.planning_group, start.get(self._group_joints()))
        state.update()
        names = tuple(self._group_joints())
        times: list[float] = []
        positions: list[list[float]] = []
        velocities: list[list[float]] = []
        offset = 0.0
        for waypoint in waypoints:
            self._apply_scene(scene, waypoint.allowed_contacts)
            self.component.set_start_state(robot_state=state)
            self.component.set_goal_state(
                pose_stamped_msg=self._pose_msg(waypoint, self.robot_model.model_frame),
                pose_link=settings.pose_link,
            )
            pipeline = (
                settings.linear_pipeline if waypoint.motion is Motion.LINEAR else settings.free_pipeline
            )
            params = PlanRequestParameters(self.moveit, pipeline)
            params.planning_time = settings.planning_time_s
            params.max_velocity_scaling_factor = settings.velocity_scaling
            params.max_acceleration_scaling_factor = settings.acceleration_scaling
            result = self.component.plan(single_plan_parameters=params)
            if not result:
                raise PlanningError(f"MoveIt ({pipeline}) found no plan to {waypoint.name or 'a waypoint'}")
            msg = result.trajectory.get_robot_trajectory_msg().joint_trajectory
            index = [list(msg.joint_names).index(n) for n in names]
            for point in msg.points:
                t = offset + point.time_from_start.sec + 1e-9 * point.time_from_start.nanosec
                if times and t <= times[-1]:
                    continue
                times.append(t)
                positions.append([point.positions[i] for i in index])
                velocities.append([point.velocities[i] if point.velocities else 0.0 for i in index])
            offset = times[-1] if times else offset
            if positions:
                # The next motion starts where this one ends.
                state = RobotState(self.robot_model)
                state.set_joint_group_positions(settings.planning_group, np.array(positions[-1]))
                state.update()
        if not times:
            raise PlanningError("MoveIt returned empty trajectories")
        trajectory = JointTrajectory(names, np.array(times), np.array(positions), np.array(velocities))
        end = JointState(names, np.array(positions[-1]))
        return trajectory, end

    def _group_joints(self) -> list[str]:
        return list(
            self.robot_model.get_joint_model_group(self.settings.planning_group).active_joint_model_names
        )
