"""Pictures for people: the camera image with the model's points and labels drawn on it (OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from molmo_ros.pointing import PixelPoint

# BGR-free: images here are RGB, so colours are (R, G, B).
POINT_COLOUR = (255, 40, 40)
NO_DEPTH_COLOUR = (255, 200, 0)
OUTLINE_COLOUR = (255, 255, 255)


def draw_points(
    rgb: np.ndarray,
    points: Sequence[PixelPoint],
    depth_valid: Sequence[bool] | None = None,
    caption: str = "",
) -> np.ndarray:
    """A copy of `rgb` (H, W, 3) uint8 with each point drawn as a ringed dot and its label beside it.

    Points without valid depth (depth_valid[i] False) are drawn in another colour. `caption` goes to the
    top-left corner (for example the query).
    """
    out = np.ascontiguousarray(rgb.copy())
    scale = max(out.shape[:2]) / 640.0
    radius = max(3, round(6 * scale))
    thickness = max(1, round(2 * scale))
    font_scale = 0.5 * max(scale, 0.6)
    for i, point in enumerate(points):
        centre = (round(point.x), round(point.y))
        ok = depth_valid is None or bool(depth_valid[i])
        cv2.circle(out, centre, radius + thickness, OUTLINE_COLOUR, thickness, cv2.LINE_AA)
        cv2.circle(out, centre, radius, POINT_COLOUR if ok else NO_DEPTH_COLOUR, -1, cv2.LINE_AA)
        if point.label:
            origin = (centre[0] + radius + 4, centre[1] - radius)
            _text(out, point.label, origin, font_scale, thickness)
    if caption:
        _text(out, caption, (8, round(20 * max(scale, 0.6))), font_scale, thickness)
    return out


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int) -> None:
    # A dark outline under light text stays readable on any background.
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, OUTLINE_COLOUR, thickness, cv2.LINE_AA)
