"""Model text -> pixel points, and the prompts that ask for them (plain Python, no rclpy)."""

from molmo_ros.pointing.parse import PixelPoint, PointAnswer, parse_points
from molmo_ros.pointing.prompts import count_prompt, point_prompt, validate_query

__all__ = [
    "PixelPoint",
    "PointAnswer",
    "count_prompt",
    "parse_points",
    "point_prompt",
    "validate_query",
]
