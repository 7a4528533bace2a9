"""The picture store: a batch made through it (first writing, then reading) is the batch made without it, a
later source reads the processor's work from disk instead of redoing it, sets of the same pictures with other
questions share its entries, a cut-short entry is made again, and other processor settings get their own folder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import training.batching
import training.pictures
from support.two_objects import two_object_answer, two_object_scene
from training.batching import BatchSource
from training.picture_store import PictureStore, digest
from training.pictures import Picture, PictureCache


def _rows(n: int, prompt: str = "Point to the objects."):  # type: ignore[no-untyped-def]
    """``n`` views of the two-object scene, each shifted right by its index (so each picture differs)."""
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as ImageFeature

    image, mask, _ = two_object_scene()
    answer, objects = two_object_answer()
    pixels, masks = [], []
    for i in range(n):
        pixels.append(Image.fromarray(np.roll(np.asarray(image), 2 * i, axis=1)))
        masks.append(Image.fromarray(np.roll(mask, 2 * i, axis=1)))
    return Dataset.from_dict(
        {
            "image": pixels,
            "mask": masks,
            "objects": [json.dumps(objects)] * n,
            "prompts": [[prompt, "Point to the green mug."]] * n,
            "answers": [[answer, "There are none."]] * n,
            "styles": [["point_all", "absent"]] * n,
        },
        features=Features(
            {
                "image": ImageFeature(),
                "mask": ImageFeature(),
                "objects": Value("string"),
                "prompts": Sequence(Value("string")),
                "answers": Sequence(Value("string")),
                "styles": Sequence(Value("string")),
            }
        ),
    )


def _source(rows, processor, store: str = "") -> BatchSource:  # type: ignore[no-untyped-def]
    return BatchSource(
        rows,
        processor,
        2,
        1,
        512,
        seed=3,
        aux_targets=True,
        position_frequencies=8,
        object_kinds=True,
        picture_cache_rows=10,
        picture_store=store,
    )


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Equal batches, bit for bit (the pointer targets mark positions without a point with NaN)."""
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, equal_nan=True, msg=key)


def _entries(root, kind: str) -> list:  # type: ignore[no-untyped-def]
    return sorted(root.glob(f"*/{kind}/*/*.pt"))


def _no_processing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the processor ran: the store was not read")

    monkeypatch.setattr(training.pictures, "picture_of", refuse)
    monkeypatch.setattr(training.batching, "object_patch_fractions", refuse)


def test_batches_through_the_store_are_the_batches_without_it(coord_processor, tmp_path, monkeypatch) -> None:
    rows = _rows(4)
    plain, writing = _source(rows, coord_processor), _source(rows, coord_processor, str(tmp_path))
    expected = [plain[step] for step in range(3)]  # 6 examples: every row, two of them twice
    for step, batch in enumerate(expected):
        _same(writing[step], batch)
    assert len(_entries(tmp_path, "picture")) == 4
    assert len(_entries(tmp_path, "fractions")) == 4

    _no_processing(monkeypatch)  # a later stage or run: everything comes from disk
    reading = _source(rows, coord_processor, str(tmp_path))
    for step, batch in enumerate(expected):
        _same(reading[step], batch)


def test_a_set_of_the_same_pictures_with_other_questions_reads_the_same_entries(
    coord_processor, tmp_path, monkeypatch
) -> None:
    _source(_rows(2), coord_processor, str(tmp_path))[0]
    _no_processing(monkeypatch)
    other = _source(_rows(2, prompt="Point to each object."), coord_processor, str(tmp_path))
    assert other[0]["input_ids"].shape[0] == 2
    assert len(_entries(tmp_path, "picture")) == 2


def test_a_cut_short_entry_is_made_again(coord_processor, tmp_path) -> None:
    image, _, _ = two_object_scene()
    store = PictureStore(tmp_path, coord_processor.image_processor)
    name = digest(b"the picture's bytes")
    first = PictureCache(coord_processor.image_processor, 0, store).get(0, lambda: image, lambda: name)
    path = store.path("picture", name)
    path.write_bytes(path.read_bytes()[:100])  # a run killed while writing in place would leave this
    again = PictureCache(coord_processor.image_processor, 0, store).get(0, lambda: image, lambda: name)
    assert torch.equal(again.crops, first.crops)
    assert torch.load(path, weights_only=True)["crops"].shape[0] >= 1  # whole again


def test_an_entry_that_cannot_be_written_is_served_and_warned_about_once(tmp_path, monkeypatch) -> None:
    import training.picture_store as picture_store

    class Processor:
        def to_dict(self) -> dict:
            return {"size": 280}

    def full_disk(_value, target) -> None:  # type: ignore[no-untyped-def]
        Path(target).write_bytes(b"half")  # a write cut short by the full disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(picture_store.torch, "save", full_disk)
    store = PictureStore(tmp_path, Processor())
    with pytest.warns(UserWarning, match="No space left on device"):
        first = store.fetch("picture", digest("a"), lambda: {"x": torch.ones(2)})
    assert torch.equal(first["x"], torch.ones(2)) and store.write_failed
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        second = store.fetch("picture", digest("b"), lambda: {"x": torch.zeros(2)})
    assert torch.equal(second["x"], torch.zeros(2)) and not later  # warned once
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.tmp"))


def test_a_record_keeps_equal_crops_once_and_gives_the_picture_back(coord_processor) -> None:
    image, _, _ = two_object_scene()
    picture = PictureCache(coord_processor.image_processor, 0).get(0, lambda: image)
    record = picture.to_record()
    distinct = {bytes(crop.numpy()) for crop in picture.crops}
    assert record["crops"].shape[0] == len(distinct) < picture.crops.shape[0]  # global view == the one tile
    back = Picture.from_record(record)
    assert torch.equal(back.crops, picture.crops)
    assert torch.equal(back.image_token_pooling, picture.image_token_pooling)
    assert back.size == picture.size == image.size


def test_other_processor_settings_get_their_own_folder(coord_processor, tmp_path) -> None:
    import copy

    other = copy.deepcopy(coord_processor.image_processor)
    other.size = {"height": other.size["height"] + 14, "width": other.size["width"] + 14}
    here = PictureStore(tmp_path, coord_processor.image_processor).directory
    assert PictureStore(tmp_path, other).directory != here
    assert PictureStore(tmp_path, copy.deepcopy(coord_processor.image_processor)).directory == here


def test_rows_without_picture_columns_are_not_stored(coord_processor, tmp_path) -> None:
    answer, _ = two_object_answer()
    image, _, _ = two_object_scene()
    row = {"image": image, "prompts": ["Point to the objects."], "answers": [answer], "styles": ["point_all"]}
    source = BatchSource([row], coord_processor, 1, 1, 512, seed=0, picture_store=str(tmp_path))
    assert source.pictures.store is None
    assert source[0]["input_ids"].shape[0] == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("parts", [(b"ab", b"c"), ("ab", "c")])
def test_digest_tells_how_the_parts_were_cut(parts) -> None:  # type: ignore[no-untyped-def]
    a, b = parts
    assert digest(a, b) != digest(a[:1], a[1:] + b)
    assert digest(a, b) == digest(a, b)
