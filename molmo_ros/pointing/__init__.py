"""The pointing use case, plain Python (no rclpy): ask a model to point, read the answer, lift it to 3D.

- :mod:`prompts`: the query checks and the Molmo prompts (point, point to all, count)
- :mod:`points`: :class:`PixelPoint` and :class:`PointAnswer` (plain data)
- :mod:`parse`: model text -> a :class:`PointAnswer` (Molmo2 and Molmo v1 point formats)
- :mod:`query`: :func:`answer_point_query`, one question on one RGB-D frame -> 3D points with depth
- :mod:`frames`: RGB-D frames and pairing colour, depth and CameraInfo by stamp
- :mod:`request_gate`: how many requests the model serves at once (``BUSY`` beyond that)
- :mod:`drawing`: the picture with the points drawn on it

Only the parser and the prompts are imported here: :mod:`query` needs :mod:`molmo_ros.models`, which itself
reads answers with :mod:`parse`.
"""

from molmo_ros.pointing.parse import parse_points
from molmo_ros.pointing.points import PixelPoint, PointAnswer
from molmo_ros.pointing.prompts import count_prompt, point_prompt, validate_query

__all__ = [
    "PixelPoint",
    "PointAnswer",
    "count_prompt",
    "parse_points",
    "point_prompt",
    "validate_query",
]
