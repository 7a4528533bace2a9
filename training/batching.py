"""Examples -> model inputs with answer-only labels, deterministic batch order, batch collation.

An example is one picture with 1..``max_turns`` question/answer turns drawn from its row. It is encoded exactly
as the point node prompts the model at run time: the first user turn goes through the processor's chat template
with ``add_generation_prompt=True`` (picture tokens, BOS, ``<|im_start|>assistant\\n``), and every answer is
tokenised on its own, followed by ``<|im_end|>``, the token generation stops at. Labels are ``-100`` everywhere
except on the answers and their ``<|im_end|>``, so the loss covers answer tokens only.

The order of examples is a function of ``(seed, epoch)`` only and step ``s`` of rank ``r`` always gets the same
examples, so a resumed or a multi-process run sees exactly the data a single uninterrupted run would.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import torch

from training.coords import coordinate_token_ids, objects_of_answer, position_code
from training.data.tasks import ABSENT_ANSWER
from training.molmo2 import EOS_TOKEN

__all__ = ["BatchSource", "Encoded", "collate", "encode_example", "global_indices"]

IGNORE = -100


@dataclass
class Encoded:
    """One encoded example.

    input_ids, labels, mm_token_type_ids: (L,) int64; pixel_values: (crops, patches, patch_px * patch_px * 3);
    image_token_pooling: (tokens, pool) int (indices into this example's patches, -1 = padding);
    image_grids: (1, 4); image_num_crops: (1,).
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm_token_type_ids: torch.Tensor
    pixel_values: torch.Tensor
    image_token_pooling: torch.Tensor
    image_grids: torch.Tensor
    image_num_crops: torch.Tensor
    patch_colour: torch.Tensor | None = None
    patch_kind: torch.Tensor | None = None
    pointer_positions: torch.Tensor | None = None
    pointer_targets: torch.Tensor | None = None
    pointer_xy: torch.Tensor | None = None
    patch_xy: torch.Tensor | None = None
    relevance: torch.Tensor | None = None
    token_position: torch.Tensor | None = None
    token_position_weight: torch.Tensor | None = None


# ------------------------------------------------------------------------------------------ auxiliary targets


def _class_names() -> tuple[list[str], list[str]]:
    from molmo_ros.sim.catalogue import COLOURS, KINDS

    return list(COLOURS), list(KINDS)


def aux_class_counts() -> tuple[int, int]:
    """Classes of the auxiliary patch targets: ``(colours + 1, kinds + 1)`` (class 0 = no object)."""
    colours, kinds = _class_names()
    return len(colours) + 1, len(kinds) + 1


def digit_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that are a single digit (coordinates and counts are spelled with them) or, with coordinate
    tokens, a whole coordinate value (``000`` ... ``1000``), sorted."""
    singles = {int(tokenizer.convert_tokens_to_ids(str(d))) for d in range(10)}
    return sorted(singles | set(coordinate_token_ids(tokenizer)))


def _patch_channel_means(image_processor: Any, rgb: Any) -> torch.Tensor:
    """An ``(H, W, 3)`` uint8 picture through the model's image processor -> each patch's mean of each channel,
    0-1, ``(crops * patches, 3)`` (the processor normalises with mean = std = 0.5)."""
    from PIL import Image

    pixels = image_processor([Image.fromarray(rgb)], return_tensors="pt")["pixel_values"]
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of the auxiliary pointer / guided-attention losses.

    For every coordinate of a pointed object, the query is the position that predicts it, and the target a
    distribution over the picture's image tokens: the share of that object's mask in each token. With coordinate
    tokens (``coordinate_ids``) every point group of every answer counts (one object per group, matched by its
    coordinates: point, point-all and counting answers); with digits only single-object ``point`` answers do
    (the digits after the leading ``1 1``).

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

    def add(obj: dict[str, Any], coordinate_positions: list[int]) -> None:
        share = _token_share(fractions, encoded.image_token_pooling, obj)
        if share is None or float(share.sum()) <= 0:
            return
        target = share / share.sum()
        for n, k in enumerate(coordinate_positions):
            positions.append(k - 1)
            targets.append(target)
            first = n == 0
            value = (
                [float(obj["point"][0]) / width, float(obj["point"][1]) / height] if first else [math.nan] * 2
            )
            xy.append(torch.tensor(value))

    spans = _labelled_spans(encoded.labels.tolist())
    for (style, answer), (a, b) in zip(answers, spans, strict=False):
        if coordinate_ids:
            coords = [k for k in range(a, b) if ids[k] in coordinate_ids]
            for g, obj in enumerate(objects_of_answer(answer, objects, size)):
                add(obj, coords[2 * g : 2 * g + 2])
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
) -> torch.Tensor | None:
    """Per image token, the share of it covered by the objects the question asks for, ``(tokens,)`` in 0-1 (all
    zeros when the answer is "There are none."); None for styles that name no objects (captions, short answers).
    The objects come from the answer's point groups, so point, point-all and counting answers are treated alike."""
    if style not in RELEVANCE_STYLES:
        return None
    n_tokens = int((pooling >= 0).any(-1).sum())
    total = torch.zeros(n_tokens)
    for obj in {int(o["index"]): o for o in objects_of_answer(answer, objects, size)}.values():
        share = _token_share(fractions, pooling, obj)
        if share is not None:
            total += share
    return total.clamp(max=1.0)


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


def encode_example(processor: Any, image: Any, turns: list[tuple[str, str]], max_len: int) -> Encoded:
    """Encode a picture and its ``(prompt, answer)`` turns (see the module docstring); cut at ``max_len``."""
    if not turns:
        raise ValueError("an example needs at least one question")
    tokenizer = processor.tokenizer
    first = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": turns[0][0]}]}]
    prompt = processor.apply_chat_template(first, add_generation_prompt=True, tokenize=False)
    enc = processor(images=[image], text=prompt, return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    mm = enc["mm_token_type_ids"][0].tolist()
    labels = [IGNORE] * len(ids)
    for i, (question, answer) in enumerate(turns):
        if i > 0:
            # The chat template's separator between turns, then the next question (no loss).
            segment = f"\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
            seg_ids = tokenizer(segment, add_special_tokens=False)["input_ids"]
            ids += seg_ids
            labels += [IGNORE] * len(seg_ids)
        ans_ids = tokenizer(answer + EOS_TOKEN, add_special_tokens=False)["input_ids"]
        ids += ans_ids
        labels += ans_ids
    mm += [0] * (len(ids) - len(mm))
    ids, labels, mm = ids[:max_len], labels[:max_len], mm[:max_len]
    if sum(mm) != int(enc["mm_token_type_ids"].sum()):
        raise ValueError(f"max_seq_len {max_len} cuts into the picture tokens; raise data.max_seq_len")
    return Encoded(
        input_ids=torch.tensor(ids, dtype=torch.long),
        labels=torch.tensor(labels, dtype=torch.long),
        mm_token_type_ids=torch.tensor(mm, dtype=torch.long),
        pixel_values=enc["pixel_values"],
        image_token_pooling=enc["image_token_pooling"],
        image_grids=enc["image_grids"],
        image_num_crops=enc["image_num_crops"],
    )


def collate(examples: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad on the right and concatenate the pictures; pooling indices are shifted past the previous examples'
    patches, as the processor does for a batch."""
    length = max(len(e.input_ids) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)
    labels = torch.full((batch, length), IGNORE, dtype=torch.long)
    attention = torch.zeros((batch, length), dtype=torch.long)
    mm = torch.zeros((batch, length), dtype=torch.long)
    pooling, offset = [], 0
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[i, :n], labels[i, :n], mm[i, :n] = e.input_ids, e.labels, e.mm_token_type_ids
        attention[i, :n] = 1
        pooling.append(torch.where(e.image_token_pooling >= 0, e.image_token_pooling + offset, -1))
        offset += e.pixel_values.shape[0] * e.pixel_values.shape[1]
    out = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "mm_token_type_ids": mm,
        "pixel_values": torch.cat([e.pixel_values for e in examples], dim=0),
        "image_token_pooling": torch.cat(pooling, dim=0),
        "image_grids": torch.cat([e.image_grids for e in examples], dim=0),
        "image_num_crops": torch.cat([e.image_num_crops for e in examples], dim=0),
    }
    if all(e.patch_colour is not None for e in examples):
        out["aux_colour"] = torch.cat([e.patch_colour for e in examples], dim=0)  # type: ignore[misc]
        out["aux_kind"] = torch.cat([e.patch_kind for e in examples], dim=0)  # type: ignore[misc]
        if all(e.patch_xy is not None for e in examples):
            out["aux_patch_xy"] = torch.cat([e.patch_xy for e in examples], dim=0)  # type: ignore[misc]
        if all(e.token_position is not None for e in examples):
            out["aux_token_position"] = torch.cat([e.token_position for e in examples])  # type: ignore[misc]
            out["aux_token_covered"] = torch.cat([e.token_position_weight for e in examples])  # type: ignore[misc]
        if any(e.relevance is not None for e in examples):
            # Per valid image token of the batch: the target, and 1 where the example has one.
            values, known = [], []
            for e in examples:
                n = int((e.image_token_pooling >= 0).any(-1).sum())
                values.append(e.relevance if e.relevance is not None else torch.zeros(n))
                known.append(torch.full((n,), float(e.relevance is not None)))
            out["aux_relevance"] = torch.cat(values)
            out["aux_relevance_known"] = torch.cat(known)
        rows, cols, tgts, xys = [], [], [], []
        for i, e in enumerate(examples):
            if e.pointer_positions is not None and len(e.pointer_positions):
                rows.append(torch.full_like(e.pointer_positions, i))
                cols.append(e.pointer_positions)
                tgts.append(e.pointer_targets)
                xys.append(e.pointer_xy)
        widths = {int(t.shape[1]) for t in tgts}
        if tgts and len(widths) == 1:  # same image-token count in every picture (one crop layout)
            out["aux_ptr_rows"] = torch.cat(rows)
            out["aux_ptr_cols"] = torch.cat(cols)
            out["aux_ptr_targets"] = torch.cat(tgts)
            out["aux_ptr_xy"] = torch.cat(xys)
    return out


def global_indices(n_rows: int, seed: int, start: int, count: int) -> list[int]:
    """Dataset rows for global sample numbers ``start .. start+count-1``: epoch ``k // n_rows`` visits the rows in
    a permutation drawn from ``(seed, epoch)``."""
    out = []
    cache: dict[int, list[int]] = {}
    for k in range(start, start + count):
        epoch, pos = divmod(k, n_rows)
        if epoch not in cache:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            cache[epoch] = torch.randperm(n_rows, generator=gen).tolist()
        out.append(cache[epoch][pos])
    return out


class BatchSource(torch.utils.data.Dataset):
    """Batch number ``step`` of this rank, encoded and collated (a map-style dataset for a DataLoader).

    Args:
        rows: a dataset in the common form (``training.data.loaders``); ``rows[i]["image"]`` is a PIL image.
        processor: the model's processor.
        batch_size: examples per step and rank; world_size, rank: data-parallel layout.
        max_turns: an example takes 1..max_turns of its row's questions (uniformly), in a random order.
        max_len: token limit per example.
        seed: data-order seed; pad_id: padding token id.
        styles: keep only turns of these styles (empty: all); rows left without a turn are skipped.
        aux_targets: add per-patch colour / kind targets from the rows' ``mask`` and ``objects`` columns
            (:func:`patch_targets`) as ``aux_colour`` / ``aux_kind``, the pointer targets, and the first
            question's per-token relevance (:func:`relevance_targets`); rows without them get none.
        position_frequencies: with ``aux_targets``, also the per-token position code of the covering objects'
            points (:func:`token_position_targets`) with this many frequencies (0 = off).
        style_weights: relative chance of drawing a question of each style (default 1; the key ``qa`` stands
            for every ``qa_*`` style, ``<style>:none`` for that style's questions answered "There are none."): the
            turns of an example are drawn without replacement with these weights.
    """

    def __init__(
        self,
        rows: Any,
        processor: Any,
        batch_size: int,
        max_turns: int,
        max_len: int,
        seed: int,
        world_size: int = 1,
        rank: int = 0,
        styles: tuple[str, ...] = (),
        aux_targets: bool = False,
        position_frequencies: int = 0,
        style_weights: dict[str, float] | None = None,
    ) -> None:
        self.rows, self.processor = rows, processor
        self.batch_size, self.max_turns, self.max_len = batch_size, max_turns, max_len
        self.seed, self.world_size, self.rank = seed, world_size, rank
        self.styles = styles
        self.aux_targets = aux_targets and {"mask", "objects"} <= set(getattr(rows, "column_names", []))
        self._fractions: dict[int, dict[int, torch.Tensor]] = {}
        self._positions: dict[tuple[int, int], torch.Tensor] = {}
        tokenizer = processor.tokenizer
        self.digit_ids = set(digit_token_ids(tokenizer))
        self.coordinate_ids = set(coordinate_token_ids(tokenizer))
        self.position_frequencies = position_frequencies
        self.style_weights = dict(style_weights or {})
        self.pad_id = int(processor.tokenizer.pad_token_id)

    def _weight(self, style: str, answer: str = "") -> float:
        if answer == ABSENT_ANSWER and f"{style}:none" in self.style_weights:
            return float(self.style_weights[f"{style}:none"])
        if style in self.style_weights:
            return float(self.style_weights[style])
        if style.startswith("qa_"):
            return float(self.style_weights.get("qa", 1.0))
        return 1.0

    def __len__(self) -> int:
        return 1 << 40  # steps are counted by the loop, not by the data

    def example(self, row_index: int, sample: int) -> Encoded | None:
        """Encode row ``row_index`` for global sample number ``sample`` (which picks the turns)."""
        row = self.rows[row_index]
        turns = list(zip(row["prompts"], row["answers"], row["styles"], strict=True))
        if self.styles:
            turns = [t for t in turns if t[2] in self.styles]
        if not turns:
            return None
        rng = random.Random(self.seed * 7919 + sample)
        if self.style_weights:
            # Weighted order without replacement: sort by u ** (1 / w) (Efraimidis and Spirakis).
            keys = [rng.random() ** (1.0 / max(self._weight(style, a), 1e-9)) for _, a, style in turns]
            turns = [t for _, t in sorted(zip(keys, turns, strict=True), key=lambda kt: -kt[0])]
        else:
            rng.shuffle(turns)
        turns = turns[: rng.randint(1, min(self.max_turns, len(turns)))]
        image = row["image"].convert("RGB")
        encoded = encode_example(self.processor, image, [(q, a) for q, a, _ in turns], self.max_len)
        if self.aux_targets:
            objects = json.loads(row["objects"])
            fractions = self._fractions.get(row_index)
            if fractions is None:  # the masks through the processor: cached, a row comes back every epoch
                fractions = object_patch_fractions(self.processor.image_processor, row["mask"], objects)
                self._fractions[row_index] = fractions
            n_patches = encoded.pixel_values.shape[0] * encoded.pixel_values.shape[1]
            encoded.patch_colour, encoded.patch_kind = patch_targets(n_patches, fractions, objects)
            if image.size not in self._positions:
                self._positions[image.size] = patch_positions(self.processor.image_processor, image.size)
            encoded.patch_xy = self._positions[image.size]
            pooling = encoded.image_token_pooling
            if self.position_frequencies > 0:
                encoded.token_position, encoded.token_position_weight = token_position_targets(
                    pooling, encoded.patch_xy, fractions, objects, image.size, self.position_frequencies
                )
            # Only the first question can be read by the image tokens (it is the one before the picture).
            _, first_answer, first_style = turns[0]
            encoded.relevance = relevance_targets(
                first_style, first_answer, pooling, fractions, objects, image.size
            )
            encoded.pointer_positions, encoded.pointer_targets, encoded.pointer_xy = pointer_targets(
                encoded,
                [(style, a) for _, a, style in turns],
                fractions,
                objects,
                self.digit_ids,
                image.size,
                self.coordinate_ids,
            )
        return encoded

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        global_batch = self.batch_size * self.world_size
        first = step * global_batch + self.rank * self.batch_size
        examples: list[Encoded] = []
        k = first
        n = len(self.rows)
        while len(examples) < self.batch_size:
            (row_index,) = global_indices(n, self.seed, k, 1)
            encoded = self.example(row_index, k)
            if encoded is not None:
                examples.append(encoded)
            k += global_batch if encoded is None else 1
            if k - first > 100 * self.batch_size * self.world_size:
                raise ValueError("no rows with the requested question styles")
        return collate(examples, self.pad_id)
