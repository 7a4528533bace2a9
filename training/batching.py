"""Examples -> model inputs with answer-only labels, deterministic batch order, batch collation.

An example is one picture with 1..``max_turns`` question/answer turns drawn from its row. It is encoded exactly
as the point node prompts the model at run time: the first user turn goes through the processor's chat template
with ``add_generation_prompt=True`` (picture tokens, BOS, ``<|im_start|>assistant\\n``), and every answer is
tokenised on its own, followed by ``<|im_end|>``, the token generation stops at. Labels are ``-100`` everywhere
except on the answers and their ``<|im_end|>``, so the loss covers answer tokens only.

The order of examples is a function of ``(seed, epoch)`` only and step ``s`` of rank ``r`` always gets the same
examples, so a resumed or a multi-process run sees exactly the data a single uninterrupted run would.

With ``questions_per_picture`` k > 1 a batch holds ``batch_size / k`` pictures, each as k consecutive examples
with different questions: the vision tower, whose output does not depend on the question, then runs once per
picture (:mod:`molmo_ros.models.shared_crops` computes a run of equal crops once), while the language model
still reads ``batch_size`` examples.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import torch

from training.aux_targets import (
    IGNORE,
    object_patch_fractions,
    object_targets,
    patch_positions,
    patch_targets,
    pointer_targets,
    relevance_targets,
    token_position_targets,
)
from training.coords import coordinate_token_ids
from training.draw_weights import weighted_order
from training.molmo2 import EOS_TOKEN
from training.picture_store import PictureStore, digest, encoded_bytes
from training.pictures import Picture, PictureCache, picture_of, pixels, prompt_inputs

__all__ = ["BatchSource", "Encoded", "collate", "encode_example", "global_indices"]


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
    order: torch.Tensor | None = None  # (image tokens, 1 + ranks): which point group each token's object gets
    token_position: torch.Tensor | None = None
    token_position_weight: torch.Tensor | None = None
    object_cover: torch.Tensor | None = None  # (objects, patches): each visible object's share of each patch
    object_kind: torch.Tensor | None = None  # (objects,) int64: its kind (0-based, no "no object" class)


def digit_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that are a single digit (coordinates and counts are spelled with them) or, with coordinate
    tokens, a whole coordinate value (``000`` ... ``1000``), sorted."""
    singles = {int(tokenizer.convert_tokens_to_ids(str(d))) for d in range(10)}
    return sorted(singles | set(coordinate_token_ids(tokenizer)))


def encode_example(processor: Any, image: Any, turns: list[tuple[str, str]], max_len: int) -> Encoded:
    """Encode a picture (PIL, or a :class:`training.pictures.Picture` the processor made) and its
    ``(prompt, answer)`` turns (see the module docstring); cut at ``max_len``."""
    if not turns:
        raise ValueError("an example needs at least one question")
    tokenizer = processor.tokenizer
    picture = image if isinstance(image, Picture) else picture_of(processor.image_processor, image)
    first = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": turns[0][0]}]}]
    prompt = processor.apply_chat_template(first, add_generation_prompt=True, tokenize=False)
    ids, mm = prompt_inputs(processor, picture, prompt)
    n_picture_tokens = sum(mm)
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
    if sum(mm) != n_picture_tokens:
        raise ValueError(f"max_seq_len {max_len} cuts into the picture tokens; raise data.max_seq_len")
    return Encoded(
        input_ids=torch.tensor(ids, dtype=torch.long),
        labels=torch.tensor(labels, dtype=torch.long),
        mm_token_type_ids=torch.tensor(mm, dtype=torch.long),
        pixel_values=pixels(processor.image_processor, picture),
        image_token_pooling=picture.image_token_pooling,
        image_grids=picture.image_grids,
        image_num_crops=picture.image_num_crops,
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
        if all(e.object_cover is not None for e in examples):  # objects x all the batch's patches
            out["aux_object_cover"] = torch.block_diag(*[e.object_cover for e in examples])  # type: ignore[misc]
            out["aux_object_kind"] = torch.cat([e.object_kind for e in examples])  # type: ignore[misc]
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
            orders = [e.order for e in examples if e.order is not None]
            if orders:
                ranks = orders[0].shape[1]
                no_object = torch.zeros((1, ranks))
                no_object[0, 0] = 1.0
                out["aux_order"] = torch.cat(
                    [
                        e.order if e.order is not None else no_object.expand(len(v), -1)
                        for e, v in zip(examples, values, strict=True)
                    ]
                )
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
            for every ``qa_*`` style, ``<style>:none`` for that style's questions answered "There are none.",
            ``<style>:several`` for those whose answer has two or more point groups; ``lookalike``
            multiplies the weight of a question naming a kind whose look-alike is in the picture,
            :func:`training.draw_weights.question_weight`): the turns of an example are drawn without replacement with these weights.
        picture_cache_rows: rows whose processed picture is kept (:class:`training.pictures.PictureCache`;
            ~0.3 MB each at 224 px; 0 = none).
        next_object: the pointer targets also guide the positions that decide whether a point group follows
            (:func:`pointer_targets`).
        order_ranks: > 0: with ``aux_targets``, also each image token's point group
            (:func:`relevance_targets` with ``ranks``).
        object_kinds: with ``aux_targets``, also each object's patch cover and kind (:func:`object_targets`).
        questions_per_picture: examples made of each drawn row, one after another, each with its own first
            question (the row's turns in the drawn order, rotated); must divide ``batch_size``.
        picture_store: a folder where each row's processed picture and object fractions are kept on disk for
            later stages and runs (:class:`training.picture_store.PictureStore`; "" = none; used only for
            ``datasets`` rows whose ``image`` is a ``datasets.Image``).
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
        picture_cache_rows: int = 0,
        next_object: bool = False,
        order_ranks: int = 0,
        object_kinds: bool = False,
        questions_per_picture: int = 1,
        picture_store: str = "",
    ) -> None:
        if questions_per_picture < 1 or batch_size % questions_per_picture:
            raise ValueError(
                f"questions_per_picture ({questions_per_picture}) must be >= 1 and divide batch_size ({batch_size})"
            )
        self.questions_per_picture = questions_per_picture
        self.rows, self.processor = rows, processor
        self.batch_size, self.max_turns, self.max_len = batch_size, max_turns, max_len
        self.seed, self.world_size, self.rank = seed, world_size, rank
        self.styles = styles
        self.aux_targets = aux_targets and {"mask", "objects"} <= set(getattr(rows, "column_names", []))
        self._fractions: dict[int, dict[int, torch.Tensor]] = {}
        self._image_bytes = encoded_bytes(rows, "image") if picture_store else None
        self._mask_bytes = encoded_bytes(rows, "mask") if picture_store else None
        store = PictureStore(picture_store, processor.image_processor) if self._image_bytes else None
        self.pictures = PictureCache(processor.image_processor, picture_cache_rows, store)
        columns = list(getattr(rows, "column_names", []))
        # Reading a row decodes every picture column: the question columns are read on their own.
        text_columns = [c for c in columns if c not in ("image", "mask")]
        self._text = rows.select_columns(text_columns) if text_columns else rows
        self._columns: dict[str, Any] = {}
        self._positions: dict[tuple[int, int], torch.Tensor] = {}
        tokenizer = processor.tokenizer
        self.digit_ids = set(digit_token_ids(tokenizer))
        self.coordinate_ids = set(coordinate_token_ids(tokenizer))
        self.position_frequencies = position_frequencies
        self.object_kinds = object_kinds
        self.style_weights = dict(style_weights or {})
        self.next_object, self.order_ranks = next_object, order_ranks
        self.pad_id = int(processor.tokenizer.pad_token_id)

    def _column(self, row_index: int, name: str) -> Any:
        """One column of one row, decoding no other picture."""
        if not hasattr(self.rows, "select_columns"):
            return self.rows[row_index][name]
        if name not in self._columns:
            self._columns[name] = self.rows.select_columns([name])
        return self._columns[name][row_index][name]

    def _object_fractions(
        self, row_index: int, objects: list[dict[str, Any]], objects_json: str
    ) -> dict[int, torch.Tensor]:
        """:func:`object_patch_fractions` of the row's mask, through the picture store when there is one."""

        def make() -> dict[int, torch.Tensor]:
            mask = self._column(row_index, "mask")
            return object_patch_fractions(self.processor.image_processor, mask, objects)

        store = self.pictures.store
        if store is None or self._mask_bytes is None:
            return make()
        name = digest(self._mask_bytes(row_index), objects_json)
        return store.fetch("fractions", name, lambda: {"by_index": make()})["by_index"]

    def __len__(self) -> int:
        return 1 << 40  # steps are counted by the loop, not by the data

    def example(self, row_index: int, sample: int, copy: int = 0) -> Encoded | None:
        """Encode row ``row_index`` for global sample number ``sample`` (which picks the turns); ``copy`` j of a
        row drawn for several examples starts at the j-th turn of the drawn order."""
        row = self._text[row_index]
        turns = list(zip(row["prompts"], row["answers"], row["styles"], strict=True))
        if self.styles:
            turns = [t for t in turns if t[2] in self.styles]
        if not turns:
            return None
        rng = random.Random(self.seed * 7919 + sample)
        turns = weighted_order(turns, rng, self.style_weights, row.get("objects"))
        start = copy % len(turns)
        turns = turns[start:] + turns[:start]
        turns = turns[: rng.randint(1, min(self.max_turns, len(turns)))]
        picture = self.pictures.get(
            row_index,
            lambda: self._column(row_index, "image").convert("RGB"),
            lambda: digest(self._image_bytes(row_index)) if self._image_bytes else None,
        )
        qa = [(q, a) for q, a, _ in turns]
        encoded = encode_example(self.processor, picture, qa, self.max_len)
        size = picture.size
        if self.aux_targets:
            objects = json.loads(row["objects"])
            fractions = self._fractions.get(row_index)
            if fractions is None:  # the masks through the processor: cached, a row comes back every epoch
                fractions = self._object_fractions(row_index, objects, row["objects"])
                self._fractions[row_index] = fractions
            n_patches = encoded.pixel_values.shape[0] * encoded.pixel_values.shape[1]
            encoded.patch_colour, encoded.patch_kind = patch_targets(n_patches, fractions, objects)
            if self.object_kinds:
                encoded.object_cover, encoded.object_kind = object_targets(n_patches, fractions, objects)
            if size not in self._positions:
                self._positions[size] = patch_positions(self.processor.image_processor, size)
            encoded.patch_xy = self._positions[size]
            pooling = encoded.image_token_pooling
            if self.position_frequencies > 0:
                encoded.token_position, encoded.token_position_weight = token_position_targets(
                    pooling, encoded.patch_xy, fractions, objects, size, self.position_frequencies
                )
            # Only the first question can be read by the image tokens (it is the one before the picture).
            _, first_answer, first_style = turns[0]
            encoded.relevance = relevance_targets(
                first_style, first_answer, pooling, fractions, objects, size
            )
            if self.order_ranks > 0:
                encoded.order = relevance_targets(
                    first_style, first_answer, pooling, fractions, objects, size, self.order_ranks
                )
            encoded.pointer_positions, encoded.pointer_targets, encoded.pointer_xy = pointer_targets(
                encoded,
                [(style, a) for _, a, style in turns],
                fractions,
                objects,
                self.digit_ids,
                size,
                self.coordinate_ids,
                self.next_object,
            )
        return encoded

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        per_rank = self.batch_size // self.questions_per_picture  # rows drawn by this rank a step
        global_batch = per_rank * self.world_size
        first = step * global_batch + self.rank * per_rank
        examples: list[Encoded] = []
        k = first
        n = len(self.rows)
        while len(examples) < self.batch_size:
            (row_index,) = global_indices(n, self.seed, k, 1)
            copies = [self.example(row_index, k, j) for j in range(self.questions_per_picture)]
            if copies[0] is not None:
                examples.extend(copies)
            k += global_batch if copies[0] is None else 1
            if k - first > 100 * global_batch:
                raise ValueError("no rows with the requested question styles")
        return collate(examples, self.pad_id)
