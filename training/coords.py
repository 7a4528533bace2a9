"""The coordinate read-out: coordinate tokens, their smooth code and soft targets, and what an answer points at.

With ``Molmo2Sizes.coordinate_tokens`` every value ``000`` ... ``1000`` of Molmo2's coordinate scale is one token
(:data:`training.molmo2.COORDINATE_TOKENS`). Three things make that read-out easy for a small decoder:

* a smooth code of the value (:func:`position_code`: the value and sines / cosines of it) initialises the
  coordinate tokens' embedding and LM-head rows, so neighbouring values start with neighbouring rows;
* the same code of each object's point is the per-image-token position target of the auxiliary head
  (``training.aux_heads.AuxHeads``), so the image tokens carry, linearly, what the LM head reads;
* soft targets (:func:`soft_coordinate_targets`): a Gaussian over neighbouring values instead of one class, so a
  point 4 units off is nearly right rather than as wrong as one at the other side of the picture.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = [
    "coordinate_token_ids",
    "objects_of_answer",
    "position_code",
    "soft_coordinate_targets",
]


def coordinate_token_ids(tokenizer: Any) -> list[int]:
    """Token ids of ``000`` ... ``1000`` (index = value) when the tokenizer has them all as single tokens (with
    their leading space, ``answer_tokens``, or without), else ``[]``."""
    from training.molmo2 import COORDINATE_TOKENS, SPACED_COORDINATE_TOKENS

    vocab = tokenizer.get_vocab()
    for tokens in (SPACED_COORDINATE_TOKENS, COORDINATE_TOKENS):
        ids = [vocab.get(t) for t in tokens]
        if all(i is not None for i in ids):
            return [int(i) for i in ids]  # type: ignore[arg-type]
    return []


def position_code(u: torch.Tensor, frequencies: int) -> torch.Tensor:
    """A smooth code of positions ``u`` (fractions 0-1 of the picture, any shape ``S``): ``(S, 1 + 2F)`` =
    ``[u, cos(pi k u), sin(pi k u)]`` for ``k = 1 .. F``. Nearby positions get nearby codes; the highest
    frequency sets how sharply two codes can tell positions apart (about ``1 / (2F)`` of the picture)."""
    k = torch.arange(1, frequencies + 1, dtype=u.dtype, device=u.device)
    angles = math.pi * u[..., None] * k
    return torch.cat([u[..., None], angles.cos(), angles.sin()], dim=-1)


def soft_coordinate_targets(sigma: float, n_values: int = 1001) -> torch.Tensor:
    """``(n_values, n_values)``: row ``v`` is a Gaussian over values centred on ``v`` with ``sigma`` (in units of
    the 0-1000 scale), summing to 1; ``sigma <= 0`` gives one-hot rows (plain cross-entropy)."""
    if sigma <= 0:
        return torch.eye(n_values)
    values = torch.arange(n_values, dtype=torch.float32)
    kernel = torch.exp(-0.5 * ((values[None, :] - values[:, None]) / sigma) ** 2)
    return kernel / kernel.sum(dim=1, keepdim=True)


def point_groups(answer: str) -> int:
    """How many points (objects) an answer lists, read by the node's own parser
    (:func:`molmo_ros.pointing.parse_points`): ``coords="1 1 x y 2 x y"`` -> 2; 0 for none or an unreadable one."""
    from molmo_ros.errors import MolmoRosError
    from molmo_ros.pointing import parse_points

    try:
        return len(parse_points(answer, 1000, 1000).points)  # only the count matters, not the picture size
    except MolmoRosError:
        return 0


def objects_of_answer(
    answer: str, objects: list[dict[str, Any]], size: tuple[int, int]
) -> list[dict[str, Any]]:
    """The ground-truth object each point of ``answer`` was written for (the visible object whose point is
    nearest), in the answer's order; ``[]`` for an answer without points or one the parser cannot read.
    ``size``: the picture's ``(width, height)`` px. The points come from the node's own parser
    (:func:`molmo_ros.pointing.parse_points`, continuous pixels), the objects' points are pixel centres."""
    from molmo_ros.errors import MolmoRosError
    from molmo_ros.pointing import parse_points

    visible = [o for o in objects if o.get("visible") and o.get("point") is not None]
    if not visible:
        return []
    try:
        points = parse_points(answer, *size).points
    except MolmoRosError:
        return []
    return [
        min(
            visible,
            key=lambda o: (float(o["point"][0]) + 0.5 - p.x) ** 2 + (float(o["point"][1]) + 0.5 - p.y) ** 2,
        )
        for p in points
    ]
