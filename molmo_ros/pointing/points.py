"""What a model answer says about one image: :class:`PixelPoint` values and the :class:`PointAnswer` holding them
(plain data; :mod:`molmo_ros.pointing.parse` makes them from model text)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PixelPoint:
    """One point on the image, in pixels.

    Attributes:
        x: column, pixels, continuous in ``[0, width]`` (sub-pixel float).
        y: row, pixels, continuous in ``[0, height]`` (sub-pixel float).
        label: what the point marks: the tag's ``alt``, else its inner text, else ``""``.
        object_id: the object number within its tag, from 1: Molmo2's ID, or Molmo v1's attribute index
            (``x2`` -> 2; an unnumbered ``x``/``y`` -> 1). 0 means "not numbered" (built by hand).
    """

    x: float
    y: float
    label: str
    object_id: int = 0

    def index(self, width: int, height: int) -> tuple[int, int]:
        """The ``(column, row)`` array index holding this point in a ``width`` x ``height`` image.

        ``floor`` of the coordinates, except that the far edge (``x == width`` or ``y == height``, which
        the parser accepts) belongs to the last column / row.
        """
        col = min(math.floor(self.x), width - 1)
        row = min(math.floor(self.y), height - 1)
        return col, row


@dataclass(frozen=True)
class PointAnswer:
    """What a model answer says about one image.

    Three kinds of answer, told apart by ``points`` and ``absent``:

    * ``points`` non-empty (``absent`` is False): the model pointed.
    * no points and ``absent`` True: the model said the object is not there ("There are none.",
      "This isn't in the image.", "There are no red cups."). A clean result, not an error.
    * no points and ``absent`` False: the text has no point tag and no "not there" sentence (a caption, a
      refusal, a question answered in words). Callers that asked for a point decide what that means.

    Attributes:
        points: the points in the order they appear in the text (pixels, see :class:`PixelPoint`).
        absent: True when the model said the object is not in the image (then ``points`` is empty).
        text: the model's text, unchanged.
        stated_count: the total the text states in words ("... shows a total of 2."), else None.
    """

    points: tuple[PixelPoint, ...]
    absent: bool
    text: str
    stated_count: int | None = None

    @property
    def found(self) -> bool:
        """True when the answer holds at least one point."""
        return bool(self.points)

    @property
    def count(self) -> int:
        """How many objects the answer reports.

        The stated total when the text gives one (a counting answer may state more than it points at),
        else the number of points (0 for an absent answer or one without tags).
        """
        if self.stated_count is not None:
            return self.stated_count
        return len(self.points)

    @property
    def labels(self) -> tuple[str, ...]:
        """The distinct labels of the points, in order of first appearance."""
        return tuple(dict.fromkeys(p.label for p in self.points))

    def xy(self) -> np.ndarray:
        """The points as a float64 array of shape ``(N, 2)``: columns x, y in pixels."""
        return np.array([(p.x, p.y) for p in self.points], dtype=np.float64).reshape(-1, 2)
