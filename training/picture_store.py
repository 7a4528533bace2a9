"""What the image processor made of each training picture, on disk, for every stage and run after the first.

The in-memory :class:`training.pictures.PictureCache` lives as long as one process, so each of the recipe's four
passes sent every picture through the processor again: ~20 ms a picture (the picture ~7 ms, its object masks
~11 ms, measured 7 Dec), 0.14 s of a stage-2 step while its pictures are new (R26 in training/README.md).
A :class:`PictureStore` keeps each result in one file named by a digest of what it was made from (the PNG
bytes, and for the masks the object list too), in a folder named by a digest of the processor's settings. The
caption and mixture sets hold the same views, so stage 1 fills the store for stage 2, and a stage whose
processor differs (another crop size) gets a folder of its own. Files are written whole (a temporary name,
then :func:`os.replace`), so two data-parallel processes may write the same entry; an unreadable file is made
again, and an entry that cannot be written (a full disk) is warned about once and served from memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = ["PictureStore", "digest", "encoded_bytes"]


def digest(*parts: bytes | str) -> str:
    """A hex name for the content ``parts`` (sha1: a file name, not a security check)."""
    h = hashlib.sha1()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))  # so ("ab", "c") and ("a", "bc") differ
        h.update(data)
    return h.hexdigest()


class PictureStore:
    """Processed-picture entries under ``root``/<processor settings digest>/.

    Args:
        root: the store's folder (made when the first entry is written).
        image_processor: the model's image processor; its ``to_dict()`` names the sub-folder.
    """

    def __init__(self, root: str | Path, image_processor: Any) -> None:
        settings = json.dumps(image_processor.to_dict(), sort_keys=True, default=str)
        self.directory = Path(root) / digest(settings)[:12]
        self.write_failed = False  # set when an entry could not be written (warned once)

    def path(self, kind: str, name: str) -> Path:
        """Where entry ``name`` (a :func:`digest`) of ``kind`` ("picture", "fractions") lives."""
        return self.directory / kind / name[:2] / f"{name}.pt"

    def fetch(self, kind: str, name: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Entry ``name`` of ``kind``: read from disk, else ``make()`` (a dict of tensors, numbers, lists), written."""
        path = self.path(kind, name)
        if path.exists():
            try:
                return torch.load(path, weights_only=True)
            except (OSError, RuntimeError, EOFError):  # a damaged file (writes are whole): made again below
                pass
        value = make()
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(value, temporary)
            os.replace(temporary, path)
        except OSError as error:  # a full or read-only disk costs speed, not the run
            temporary.unlink(missing_ok=True)
            if not self.write_failed:
                message = (
                    f"picture store {self.directory}: not written ({error}); training goes on without it"
                )
                warnings.warn(message, stacklevel=2)
            self.write_failed = True
        return value


def encoded_bytes(rows: Any, column: str) -> Callable[[int], bytes] | None:
    """``row index -> the encoded file bytes`` of picture column ``column`` of a ``datasets.Dataset``, read
    without decoding; None when ``rows`` has no such column (a plain list of rows, another column type)."""
    import datasets

    features = getattr(rows, "features", None) or {}
    if not isinstance(features.get(column), datasets.Image):
        return None
    raw = rows.select_columns([column]).cast_column(column, datasets.Image(decode=False))

    def read(index: int) -> bytes:
        value = raw[index][column]
        return value["bytes"] if value.get("bytes") is not None else Path(value["path"]).read_bytes()

    return read
