"""Targets of the training-only auxiliary heads (:mod:`training.aux_heads`), computed per example from the
ground-truth masks: which patches and image tokens each object covers, patch positions, the pointer targets on
the answer's coordinate tokens, per-token relevance to the question, each token's covering object's point."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import torch

from molmo_ros.models.single_resize import resize_once
from training.coords import objects_of_answer, position_code

if TYPE_CHECKING:
    from training.batching import Encoded

IGNORE = -100  # the label of every token the loss skips (prompt, picture, padding)


def _class_names() -> tuple[list[str], list[str]]:
    from molmo_ros.sim.catalogue import COLOURS, KINDS

    return list(COLOURS), list(KINDS)


def aux_class_counts() -> tuple[int, int]:
    """Classes of the auxiliary patch targets: ``(colours + 1, kinds + 1)`` (class 0 = no object)."""
    colours, kinds = _class_names()
    return len(colours) + 1, len(kinds) + 1


def _patch_channel_means(image_processor: Any, rgb: Any) -> torch.Tensor:
    """An ``(H, W, 3)`` uint8 picture through the model's image processor -> each patch's mean of each channel,
    0-1, ``(crops * patches, 3)`` (the processor normalises with mean = std = 0.5)."""
    from PIL import Image

    once = resize_once(image_processor, rgb)  # the same pixels in half the time
    pixels = image_processor([Image.fromarray(once)], return_tensors="pt")["pixel_values"]
    crops, patches, flat = pixels.shape
    return ((pixels.reshape(crops * patches, flat // 3, 3) + 1.0) * 0.5).clamp(0, 1).mean(dim=1)


def object_patch_fractions(
    image_processor: Any, mask: Any, objects: list[dict[str, Any]]
) -> dict[int, torch.Tensor]:
    """For every object with mask pixels, the fraction of each patch it covers, ``(crops * patches,)``, keyed by
    its mask index. Each object's binary mask goes through the model's own image processor (three objects per RGB
    picture), so the patches see the same resize and tiling as the camera picture."""
    import numpy as np

    index = np.asarray(mask)
    present = [o for o in objects if o.get("pixels", 0) > 0]
    out: dict[int, torch.Tensor] = {}
    for start in range(0, len(present), 3):
        group = present[start : start + 3]
        rgb = np.zeros((*index.shape, 3), dtype=np.uint8)
        for c, o in enumerate(group):
            rgb[..., c] = np.where(index == int(o["index"]), 255, 0)
        frac = _patch_channel_means(image_processor, rgb)
        for c, o in enumerate(group):
            out[int(o["index"])] = frac[:, c]
    return out


def patch_positions(image_processor: Any, size: tuple[int, int]) -> torch.Tensor:
    """Where each patch lies in the picture, ``(crops * patches, 2)``: the mean (x, y) of the picture points it
    sees, as fractions of the width and height. Two ramps (x in red, y in green) go through the model's own
    image processor, so the positions follow its resize and tiling whatever the crop settings."""
    import numpy as np

    width, height = size
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = np.round(np.linspace(0, 255, width))[None, :]
    rgb[..., 1] = np.round(np.linspace(0, 255, height))[:, None]
    return _patch_channel_means(image_processor, rgb)[:, :2].clone()


def patch_targets(
    n_patches: int, fractions: dict[int, torch.Tensor], objects: list[dict[str, Any]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch soft targets for the auxiliary vision loss: the fraction of each patch covered by each colour
    (and each kind), the rest going to class 0 ("no object").

    Returns:
        ``(colour, kind)``: float tensors ``(n_patches, n_colours + 1)`` and ``(n_patches, n_kinds + 1)``.
    """
    colours, kinds = _class_names()
    colour = torch.zeros((n_patches, len(colours) + 1))
    kind = torch.zeros((n_patches, len(kinds) + 1))
    for o in objects:
        f = fractions.get(int(o["index"]))
        if f is None:
            continue
        colour[:, 1 + colours.index(o["colour"])] += f
        kind[:, 1 + kinds.index(o["kind"])] += f
    colour[:, 0] = (1.0 - colour[:, 1:].sum(dim=1)).clamp(min=0)
    kind[:, 0] = (1.0 - kind[:, 1:].sum(dim=1)).clamp(min=0)
    return colour / colour.sum(dim=1, keepdim=True), kind / kind.sum(dim=1, keepdim=True)


def object_targets(
    n_patches: int, fractions: dict[int, torch.Tensor], objects: list[dict[str, Any]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-object targets of the object-kind loss: ``(cover, kind)``, ``(objects, n_patches)`` float (each
    object's share of each patch) and ``(objects,)`` int64 (0-based kind), for the objects that cover a patch."""
    kinds = _class_names()[1]
    seen = [
        o for o in objects if int(o["index"]) in fractions and float(fractions[int(o["index"])].sum()) > 0
    ]
    cover = torch.zeros((len(seen), n_patches))
    for row, o in enumerate(seen):
        cover[row] = fractions[int(o["index"])]
    return cover, torch.tensor([kinds.index(o["kind"]) for o in seen], dtype=torch.long)


def pool_to_tokens(values: torch.Tensor, pooling: torch.Tensor) -> torch.Tensor:
    """Per-patch values ``(patches, ...)`` -> their mean over each image token's pooled patches (``pooling``:
    ``(tokens, pool)`` patch indices, -1 = padding), for the valid tokens (the connector's output rows),
    ``(valid tokens, ...)``."""
    valid = pooling >= 0
    weight = valid.reshape(*valid.shape, *([1] * (values.dim() - 1))).to(values.dtype)
    means = (values[pooling.clamp(min=0)] * weight).sum(1) / weight.sum(1).clamp(min=1)
    return means[valid.any(-1)]


def _labelled_spans(labels: list[int]) -> list[tuple[int, int]]:
    """``[a, b)`` index ranges of consecutive labelled (answer) tokens, in order."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(labels):
        if labels[i] != IGNORE:
            j = i
            while j < len(labels) and labels[j] != IGNORE:
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


def _token_share(
    fractions: dict[int, torch.Tensor], pooling: torch.Tensor, obj: dict[str, Any]
) -> torch.Tensor | None:
    f = fractions.get(int(obj["index"]))
    return None if f is None else pool_to_tokens(f, pooling)


def pointer_targets(
    encoded: Encoded,
    answers: list[tuple[str, str]],
    fractions: dict[int, torch.Tensor],
    objects: list[dict[str, Any]],
    digit_ids: set[int],
    size: tuple[int, int] = (1, 1),
    coordinate_ids: set[int] | None = None,
    next_object: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of the auxiliary pointer / guided-attention losses.

    For every coordinate of a pointed object, the query is the position that predicts it, and the target a
    distribution over the picture's image tokens: the share of that object's mask in each token. With coordinate
    tokens (``coordinate_ids``) every point group of every answer counts (one object per group, matched by its
    coordinates: point, point-all and counting answers); with digits only single-object ``point`` answers do
    (the digits after the leading ``1 1``).

    With ``next_object`` (coordinate tokens only) the positions that decide whether a point group follows get
    the next group's object as their target too: the one that predicts the answer's first token ("There are
    none." or a point tag) and each group's last coordinate (a next group or the closing ``">``). Where no group
    follows there is no target: what the heads should find then is "nothing left", which has no tokens.

    Args:
        answers: ``(style, answer text)`` per turn, in order.

    Returns:
        ``(positions (Q,), targets (Q, image tokens), xy (Q, 2))``: ``xy`` is the pointed object's ``(x, y)`` as
        fractions of the picture at the query of its first coordinate (token or digit) and NaN at the others
        (their states can read what was already written); empty when the example has no pointed object.
    """
    width, height = size
    ids = encoded.input_ids.tolist()
    positions: list[int] = []
    targets: list[torch.Tensor] = []
    xy: list[torch.Tensor] = []

    def add(obj: dict[str, Any], coordinate_positions: list[int], decides: int | None = None) -> None:
        """``obj``'s share as the target at the queries of its coordinates (and at ``decides``, the query that
        decided its group comes); only the first coordinate's query gets ``xy``."""
        share = _token_share(fractions, encoded.image_token_pooling, obj)
        if share is None or float(share.sum()) <= 0 or not coordinate_positions:
            return
        target = share / share.sum()
        queries = ([] if decides is None else [decides]) + [k - 1 for k in coordinate_positions]
        for q in queries:
            positions.append(q)
            targets.append(target)
            first = q == coordinate_positions[0] - 1
            value = (
                [float(obj["point"][0]) / width, float(obj["point"][1]) / height] if first else [math.nan] * 2
            )
            xy.append(torch.tensor(value))

    spans = _labelled_spans(encoded.labels.tolist())
    for (style, answer), (a, b) in zip(answers, spans, strict=False):
        if coordinate_ids:
            coords = [k for k in range(a, b) if ids[k] in coordinate_ids]
            for g, obj in enumerate(objects_of_answer(answer, objects, size)):
                decides = None
                if next_object and 2 * g - 1 < len(coords):  # a truncated answer may lack the coordinate
                    decides = a - 1 if g == 0 else coords[2 * g - 1]
                add(obj, coords[2 * g : 2 * g + 2], decides)
            continue
        match = re.search(r'alt="([^"]*)"', answer)
        label = match.group(1) if match else ""
        obj = next((o for o in objects if f"{o['colour']} {o['kind']}" == label), None)
        if style != "point" or obj is None:
            continue
        add(obj, [k for k in range(a, b) if ids[k] in digit_ids][2:])
    if not positions:
        return torch.zeros((0,), dtype=torch.long), torch.zeros((0, 0)), torch.zeros((0, 2))
    return torch.tensor(positions, dtype=torch.long), torch.stack(targets), torch.stack(xy)


#: Question styles whose answer names the image tokens the question is about (the relevance target).
RELEVANCE_STYLES = ("point", "point_all", "count", "absent")


def relevance_targets(
    style: str,
    answer: str,
    pooling: torch.Tensor,
    fractions: dict[int, torch.Tensor],
    objects: list[dict[str, Any]],
    size: tuple[int, int],
    ranks: int = 0,
) -> torch.Tensor | None:
    """Per image token, the share of it covered by the objects the question asks for, ``(tokens,)`` in 0-1 (all
    zeros when the answer is "There are none."); None for styles that name no objects (captions, short answers).
    The objects come from the answer's point groups, so point, point-all and counting answers are treated alike.

    With ``ranks`` > 0, the order target instead: which point group of the answer each token's object gets, a
    distribution over ``1 + ranks`` classes ``(tokens, 1 + ranks)``. Class g (1..ranks, the last one also for
    later groups) holds the share covered by group g's object, class 0 the rest. Point-all and counting answers
    list their objects in reading order; a token that knows its rank tells the answer whether a next group is
    left (the picture's tokens see each other)."""
    if style not in RELEVANCE_STYLES:
        return None
    n_tokens = int((pooling >= 0).any(-1).sum())
    classes = max(ranks, 1)  # without ranks every asked-for object adds to one class: the relevance
    out = torch.zeros((n_tokens, 1 + classes))
    asked = {int(o["index"]): o for o in objects_of_answer(answer, objects, size)}.values()
    for g, obj in enumerate(asked):
        share = _token_share(fractions, pooling, obj)
        if share is not None:
            out[:, 1 + min(g, classes - 1)] += share
    if ranks <= 0:
        return out[:, 1].clamp(max=1.0)
    out[:, 0] = (1.0 - out[:, 1:].sum(1)).clamp(min=0)
    return out / out.sum(1, keepdim=True)


def token_position_targets(
    pooling: torch.Tensor,
    patch_xy: torch.Tensor,
    fractions: dict[int, torch.Tensor],
    objects: list[dict[str, Any]],
    size: tuple[int, int],
    frequencies: int,
    covered: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each image token should say it points: the point of the object(s) covering it (share-weighted),
    or its own place in the picture when no object covers ``covered`` of it; as :func:`position_code` of x and of
    y, ``(tokens, 2 * (1 + 2F))``, and a per-token flag ``(tokens,)``: 1 where an object covers it.

    Pointing reads an object's point off its image tokens; a token's own centre is up to half a token (80 x 60 px
    of a 640 x 480 picture on an 8 x 8 grid) from the object inside it, so the tokens must carry the object's point.
    """
    width, height = size
    own = pool_to_tokens(patch_xy, pooling)  # (tokens, 2)
    weighted = torch.zeros_like(own)
    cover = torch.zeros(own.shape[0])
    for o in objects:
        if not o.get("visible") or o.get("point") is None:
            continue
        share = _token_share(fractions, pooling, o)
        if share is None:
            continue
        point = torch.tensor([float(o["point"][0]) / width, float(o["point"][1]) / height])
        weighted += share[:, None] * point
        cover += share
    is_covered = cover >= covered
    xy = torch.where(is_covered[:, None], weighted / cover.clamp(min=1e-6)[:, None], own)
    code = torch.cat([position_code(xy[:, 0], frequencies), position_code(xy[:, 1], frequencies)], dim=1)
    return code, is_covered.float()
