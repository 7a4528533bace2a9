"""The embedded planner: the URDF + SRDF through pinocchio (kinematics, damped-least-squares IK) and coal
(collision), OMPL's RRTConnect for free motions, straight tool lines for approach and lift, TOPP-RA timing.

Why not mplib (the MoveIt-like package built on the same libraries): its 0.2.1 wheel is compiled against
numpy 1 and crashes on import of a robot under numpy 2, which the ROS 2 wheels need. These are the same
libraries, used directly. Deterministic for a seed: IK restarts draw from a seeded generator, a free motion
is first tried as a straight joint-space line, and OMPL's seed generator is reset before every plan
(:func:`seed_ompl`), so the samplers and planners a plan creates draw the same numbers for the same seed.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from molmo_ros.errors import MolmoRosError
from molmo_ros.planning.collision import CollisionWorld
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
from molmo_ros.planning.robot_model import JointLimits, RobotModel, load_joint_limits
from molmo_ros.planning.timing import time_parameterize


def seed_ompl(seed: int) -> None:
    """Reset OMPL's seed generator to `seed`: every RNG created from now on (the planner's and its samplers')
    gets its seed from it, so a plan that creates its own planner is reproducible.

    OMPL logs "Random number generation already started" when the generator has been used before: that is true
    of the RNGs that already exist, none of which a new plan uses, so the message is silenced here. One plan
    at a time per process: concurrent plans would share the generator.
    """
    from ompl import util as ou

    ou.setLogLevel(ou.LOG_NONE)
    ou.RNG.setSeed(int(seed) & 0x7FFFFFFF or 1)  # OMPL refuses 0
    ou.setLogLevel(ou.LOG_WARN)


@dataclass(frozen=True)
class EmbeddedSettings:
    """Settings of the embedded planner (config/planners.yaml, section ``embedded``).

    planning_time_s: OMPL's budget per free motion; velocity_scaling, acceleration_scaling: fractions of
    config/robot/joint_limits.yaml; collision_padding (m) around obstacle boxes; table_padding (m) above the
    table; cartesian_step (m) between IK solutions on straight lines; joint_resolution (rad) of collision
    checks along joint-space edges; ik_attempts: IK restarts per pose; ik_solutions: solutions compared before
    choosing the one nearest the start; max_joint_jump (rad) between consecutive points of a straight line;
    output_rate_hz: points per second of the trajectory sent to the controller.
    """

    planning_time_s: float = 2.0
    velocity_scaling: float = 0.3
    acceleration_scaling: float = 0.3
    collision_padding: float = 0.01
    table_padding: float = 0.002
    cartesian_step: float = 0.01
    joint_resolution: float = 0.02
    ik_attempts: int = 30
    ik_solutions: int = 4
    max_joint_jump: float = 0.15
    output_rate_hz: float = 20.0

    @classmethod
    def from_mapping(cls, values: dict) -> EmbeddedSettings:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown embedded planner settings: {unknown}")
        return cls(**values)


class EmbeddedPlanner(Planner):
    """Plans with the robot description of :mod:`molmo_ros.sim.robot` (see the module docstring)."""

    name = "embedded"

    def __init__(self, settings: EmbeddedSettings | None = None, group: str = "arm") -> None:
        self.settings = settings or EmbeddedSettings()
        self.robot = RobotModel(group)
        self.rrt_connect_calls = 0  # free motions that needed OMPL (not a straight joint-space line)
        self.limits: JointLimits = load_joint_limits(
            self.robot.joint_names,
            self.robot.lower,
            self.robot.upper,
            self.settings.velocity_scaling,
            self.settings.acceleration_scaling,
        )

    def describe(self) -> str:
        return f"embedded (pinocchio + coal + OMPL RRTConnect + TOPP-RA) on {self.robot.urdf.name}"

    # ------------------------------------------------------------------ the interface
    def plan(
        self,
        start: JointState,
        waypoints: Sequence[PoseWaypoint],
        scene: PlanningScene,
        seed: int = 0,
    ) -> PlanResult:
        began = time.perf_counter()
        try:
            trajectory, end = self._plan(start, waypoints, scene, seed)
        except MolmoRosError as err:
            return PlanResult(None, err, (time.perf_counter() - began) * 1e3)
        except Exception as err:  # a library failure must come back as an error, not a crash
            return PlanResult(
                None, PlanningError(f"{type(err).__name__}: {err}"), (time.perf_counter() - began) * 1e3
            )
        names = tuple(self.robot.all_joint_names)
        end_state = JointState(
            names,
            np.array([end[self.robot.model.joints[self.robot.model.getJointId(n)].idx_q] for n in names]),
        )
        return PlanResult(trajectory, None, (time.perf_counter() - began) * 1e3, end_state)

    def _plan(self, start: JointState, waypoints: Sequence[PoseWaypoint], scene: PlanningScene, seed: int):
        if not waypoints:
            raise PlanningError("no waypoints to plan through")
        seed_ompl(seed)
        rng = np.random.default_rng(seed)
        robot = self.robot
        world = CollisionWorld(robot, scene, self.settings.collision_padding, self.settings.table_padding)
        q = robot.full_configuration(start.names, start.positions)
        arm = q[robot.q_index]
        if np.any(arm < robot.lower - 1e-3) or np.any(arm > robot.upper + 1e-3):
            raise PlanningError(f"the start state {np.round(arm, 3).tolist()} is outside the joint limits")
        q = robot.with_arm(q, np.clip(arm, robot.lower, robot.upper))
        segments: list[np.ndarray] = []
        for index, waypoint in enumerate(waypoints):
            world.allow(waypoint.allowed_contacts)
            label = waypoint.name or f"waypoint {index}"
            if world.in_collision(q):
                raise PlanningError(
                    f"the start of the motion to {label} is in collision ({world.colliding_pair(q)})"
                )
            if waypoint.motion is Motion.LINEAR:
                path = self._linear(world, q, waypoint, label)
            else:
                path = self._free(world, q, waypoint, label, rng)
            segments.append(path)
            q = robot.with_arm(q, path[-1])
        trajectory, _ = time_parameterize(
            robot.joint_names,
            segments,
            self.limits.velocity,
            self.limits.acceleration,
            self.settings.output_rate_hz,
        )
        self._verify(trajectory, world, segments, waypoints, start)
        return trajectory, q

    # ------------------------------------------------------------------ inverse kinematics
    def _ik(
        self,
        world: CollisionWorld,
        q_full: np.ndarray,
        waypoint: PoseWaypoint,
        label: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """The collision-free IK solution for `waypoint` nearest `q_full` (arm joints (J,))."""
        robot, settings = self.robot, self.settings
        start_arm = q_full[robot.q_index]
        seeds = [start_arm]
        for _ in range(settings.ik_attempts - 1):
            if rng.random() < 0.5:
                seeds.append(
                    np.clip(start_arm + rng.normal(0.0, 0.4, len(start_arm)), robot.lower, robot.upper)
                )
            else:
                seeds.append(rng.uniform(robot.lower, robot.upper))
        solutions: list[np.ndarray] = []
        colliding = ""
        for arm_seed in seeds:
            solution = robot.solve_ik(robot.with_arm(q_full, arm_seed), waypoint.position, waypoint.rotation)
            if solution is None:
                continue
            if world.in_collision(solution):
                colliding = colliding or world.colliding_pair(solution)
                continue
            solutions.append(solution[robot.q_index])
            if len(solutions) >= settings.ik_solutions:
                break
        if not solutions:
            where = np.round(waypoint.position, 3).tolist()
            if colliding:
                raise UnreachableError(
                    f"every IK solution for {label} at {where} m is in collision ({colliding})"
                )
            raise UnreachableError(f"no IK solution for {label} at {where} m (out of reach or joint limits)")
        return min(solutions, key=lambda s: float(np.max(np.abs(s - start_arm))))

    # ------------------------------------------------------------------ motions
    def _edge_free(self, world: CollisionWorld, q_full: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        steps = max(math.ceil(float(np.max(np.abs(b - a))) / self.settings.joint_resolution), 1)
        for t in np.linspace(0.0, 1.0, steps + 1)[1:]:
            if world.in_collision(self.robot.with_arm(q_full, a + t * (b - a))):
                return False
        return True

    def _free(
        self,
        world: CollisionWorld,
        q_full: np.ndarray,
        waypoint: PoseWaypoint,
        label: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        goal = self._ik(world, q_full, waypoint, label, rng)
        start = q_full[self.robot.q_index]
        if self._edge_free(world, q_full, start, goal):
            return self._densify([start, goal])
        return self._rrt_connect(world, q_full, start, goal, label)

    def _rrt_connect(
        self, world: CollisionWorld, q_full: np.ndarray, start: np.ndarray, goal: np.ndarray, label: str
    ) -> np.ndarray:
        """A collision-free joint path (M, J) from `start` to `goal`: RRTConnect, then OMPL's path simplifier
        (vertex reduction, shortcuts, B-spline smoothing) and interpolation to <= 0.05 rad between points."""
        from ompl import base as ob
        from ompl import geometric as og

        robot = self.robot
        self.rrt_connect_calls += 1
        dof = len(start)
        space = ob.RealVectorStateSpace(dof)
        bounds = ob.RealVectorBounds(dof)
        for i in range(dof):
            bounds.setLow(i, float(robot.lower[i]))
            bounds.setHigh(i, float(robot.upper[i]))
        space.setBounds(bounds)
        setup = og.SimpleSetup(space)

        def valid(state) -> bool:
            return not world.in_collision(robot.with_arm(q_full, np.array([state[i] for i in range(dof)])))

        setup.setStateValidityChecker(valid)
        extent = float(np.linalg.norm(robot.upper - robot.lower))
        setup.getSpaceInformation().setStateValidityCheckingResolution(
            self.settings.joint_resolution / extent
        )
        begin, end = space.allocState(), space.allocState()
        for i in range(dof):
            begin[i], end[i] = float(start[i]), float(goal[i])
        setup.setStartAndGoalStates(begin, end)
        setup.setPlanner(og.RRTConnect(setup.getSpaceInformation()))
        solved = setup.solve(self.settings.planning_time_s)
        if not setup.haveExactSolutionPath():
            raise PlanningError(
                f"RRTConnect found no collision-free path to {label} in {self.settings.planning_time_s:g} s ({solved})"
            )
        path = setup.getSolutionPath()
        og.PathSimplifier(setup.getSpaceInformation()).simplifyMax(path)
        path.interpolate(max(math.ceil(path.length() / 0.05) + 1, 2))
        return np.array([[s[i] for i in range(dof)] for s in path.getStates()])

    def _densify(self, vertices: list[np.ndarray], spacing: float = 0.05) -> np.ndarray:
        """The straight joint-space line through `vertices` with at most `spacing` rad between points."""
        points = [vertices[0]]
        for a, b in itertools.pairwise(vertices):
            steps = max(math.ceil(float(np.max(np.abs(b - a))) / spacing), 1)
            points.extend(a + t * (b - a) for t in np.linspace(0.0, 1.0, steps + 1)[1:])
        return np.array(points)

    def _linear(
        self, world: CollisionWorld, q_full: np.ndarray, waypoint: PoseWaypoint, label: str
    ) -> np.ndarray:
        """Joint positions along a straight tool line (and a slerp of its orientation) to `waypoint`."""
        robot, settings = self.robot, self.settings
        position, rotation = robot.tool_pose(q_full)
        distance = float(np.linalg.norm(waypoint.position - position))
        angle = float((waypoint.rotation * rotation.inv()).magnitude())
        steps = max(math.ceil(max(distance / settings.cartesian_step, angle / 0.05)), 1)
        slerp = Slerp([0.0, 1.0], Rotation.concatenate([rotation, waypoint.rotation]))
        q = q_full.copy()
        points = [q[robot.q_index]]

        def pose(t: float) -> tuple[np.ndarray, Rotation]:
            return position + t * (waypoint.position - position), slerp([t])[0]

        for t0, t1 in itertools.pairwise(np.linspace(0.0, 1.0, steps + 1)):
            for solution in self._line_step(q, t0, t1, pose, label, depth=0):
                if world.in_collision(solution):
                    where = np.round(robot.tool_pose(solution)[0], 3).tolist()
                    raise PlanningError(
                        f"the straight line to {label} collides at {where} m ({world.colliding_pair(solution)})"
                    )
                q = solution
                points.append(q[robot.q_index])
        return np.array(points)

    def _line_step(
        self, q: np.ndarray, t0: float, t1: float, pose, label: str, depth: int
    ) -> list[np.ndarray]:
        """IK solutions from line parameter `t0` (solved: `q`) to `t1`. A step whose joints move more than
        `max_joint_jump` is halved (up to 3 times, 1/8 of a `cartesian_step`): a motion that is fast near a
        singularity but continuous splits into small steps, a jump to another IK branch stays a jump."""
        robot, settings = self.robot, self.settings
        target, rotation = pose(t1)
        where = np.round(target, 3).tolist()
        solution = robot.solve_ik(q, target, rotation, max_iterations=60)
        if solution is None:
            raise UnreachableError(f"the straight line to {label} leaves the arm's reach at {where} m")
        jump = float(np.max(np.abs(solution[robot.q_index] - q[robot.q_index])))
        if jump <= settings.max_joint_jump:
            return [solution]
        if depth >= 3:
            raise PlanningError(
                f"the straight line to {label} needs a joint jump of {jump:.2f} rad at {where} m"
            )
        middle = 0.5 * (t0 + t1)
        first = self._line_step(q, t0, middle, pose, label, depth + 1)
        return first + self._line_step(first[-1], middle, t1, pose, label, depth + 1)

    # ------------------------------------------------------------------ final check
    def _verify(self, trajectory, world: CollisionWorld, segments, waypoints, start: JointState) -> None:
        """Every sent point within the joint limits and, segment by segment, collision-free."""
        robot = self.robot
        positions = trajectory.positions
        if np.any(positions < robot.lower - 1e-6) or np.any(positions > robot.upper + 1e-6):
            raise PlanningError("the timed trajectory leaves the joint limits")
        if trajectory.velocities is not None and np.any(
            np.abs(trajectory.velocities) > self.limits.velocity * (1.0 + 1e-2) + 1e-6
        ):
            raise PlanningError("the timed trajectory exceeds the velocity limits")
        q_full = robot.full_configuration(start.names, start.positions)
        # A sent point belongs to the segment whose joint path passes nearest to it.
        for point in positions:
            nearest = min(
                range(len(segments)), key=lambda k: float(np.min(np.max(np.abs(segments[k] - point), axis=1)))
            )
            world.allow(waypoints[nearest].allowed_contacts)
            if world.in_collision(robot.with_arm(q_full, point)):
                raise PlanningError(
                    f"the timed trajectory collides near {waypoints[nearest].name or 'a waypoint'} "
                    f"({world.colliding_pair(robot.with_arm(q_full, point))})"
                )
