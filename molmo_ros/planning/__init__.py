"""Grasping and motion planning for the pick (plain Python, no ROS).

- :mod:`grasp`: top-down grasps for the Panda hand (shared with the simulator's scripted picks), workspace
- :mod:`perception`: depth image -> table, objects, the target object and box obstacles
- :mod:`planner`: the :class:`Planner` interface (start state + pose waypoints -> timed trajectory or error)
- :mod:`embedded`: the backend that runs anywhere (pinocchio + coal + OMPL + TOPP-RA, URDF + SRDF)
- :mod:`moveit_backend`: the moveit_py backend (with a ROS distribution and MoveIt 2)
- :mod:`pick`: the pick as a sequence (locate, grasp candidates, approach and lift plans)
- :mod:`config`: planner presets (config/planners.yaml) and backend selection
"""
