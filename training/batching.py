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

import random
from dataclasses import dataclass
from typing import Any

import torch

from molmo_ros.models.tiny import EOS_TOKEN

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
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "mm_token_type_ids": mm,
        "pixel_values": torch.cat([e.pixel_values for e in examples], dim=0),
        "image_token_pooling": torch.cat(pooling, dim=0),
        "image_grids": torch.cat([e.image_grids for e in examples], dim=0),
        "image_num_crops": torch.cat([e.image_num_crops for e in examples], dim=0),
    }


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
    ) -> None:
        self.rows, self.processor = rows, processor
        self.batch_size, self.max_turns, self.max_len = batch_size, max_turns, max_len
        self.seed, self.world_size, self.rank = seed, world_size, rank
        self.styles = styles
        self.pad_id = int(processor.tokenizer.pad_token_id)

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
        rng.shuffle(turns)
        turns = turns[: rng.randint(1, min(self.max_turns, len(turns)))]
        image = row["image"].convert("RGB")
        return encode_example(self.processor, image, [(q, a) for q, a, _ in turns], self.max_len)

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
