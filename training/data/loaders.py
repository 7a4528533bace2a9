"""Read training rows from our synthetic sets or from local copies of the real PixMo data, into one form.

Every loader returns a ``datasets.Dataset`` with the columns ``image`` (``datasets.Image``), ``prompts``,
``answers`` and ``styles`` (lists of strings, one entry per question), which is what the training loop batches.

Accepted inputs (``path`` is a ``save_to_disk`` directory, a directory of data files, or one data file:
``.parquet``, ``.arrow``, ``.json``/``.jsonl``, ``.csv``):

* ``synthetic``: the output of :mod:`training.data.build` (already in the common form).
* ``pixmo_cap`` (allenai/pixmo-cap's schema): ``image`` (or ``image_path`` / ``image_url`` naming a local file)
  and ``caption``; each row becomes "Describe this image in detail." -> caption.
* ``pixmo_points`` (allenai/pixmo-points' schema): ``image`` (or a local ``image_path`` / ``image_url``),
  ``label`` and ``points`` (a list of ``{"x": .., "y": ..}`` in percent of width / height, 0-100); each row
  becomes a pointing question about ``label`` answered in the Molmo2 format (``There are none.`` without points).
  ``count`` is optional and unused (it equals ``len(points)`` in the published data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molmo_ros.pointing import point_prompt
from training.data.tasks import ABSENT_ANSWER

__all__ = ["FORMATS", "load_rows", "pixmo_points_answer"]

FORMATS = ("synthetic", "pixmo_cap", "pixmo_points")
CAPTION_PROMPT = "Describe this image in detail."
_FILE_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def _read(path: str | Path) -> Any:
    """A ``datasets.Dataset`` from a save_to_disk directory, a directory of data files or one data file."""
    import datasets

    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no dataset at {root}")
    if root.is_dir() and ((root / "dataset_info.json").exists() or (root / "state.json").exists()):
        loaded = datasets.load_from_disk(str(root))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded["train"] if "train" in loaded else next(iter(loaded.values()))
        return loaded
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in _FILE_BUILDERS)
    if not files:
        raise FileNotFoundError(
            f"{root} holds no dataset (save_to_disk directory or {sorted(_FILE_BUILDERS)} files)"
        )
    builders = {_FILE_BUILDERS[f.suffix] for f in files}
    if len(builders) != 1:
        raise ValueError(f"{root} mixes data file kinds {sorted(builders)}")
    return datasets.load_dataset(builders.pop(), data_files=[str(f) for f in files], split="train")


def _with_image_column(dataset: Any, root: Path) -> Any:
    """Make sure an ``image`` column of ``datasets.Image`` type exists (from a local path column if needed)."""
    import datasets

    if "image" not in dataset.column_names:
        source = next((c for c in ("image_path", "image_url", "path") if c in dataset.column_names), None)
        if source is None:
            raise ValueError(
                f"no image column: expected image, image_path or image_url, got {dataset.column_names}"
            )
        base = root if root.is_dir() else root.parent

        def resolve(row: dict[str, Any]) -> dict[str, Any]:
            location = str(row[source]).removeprefix("file://")
            file = Path(location)
            if not file.is_absolute():
                file = base / file
            if not file.is_file():
                raise FileNotFoundError(
                    f"image {row[source]!r} is not a local file (download the images first)"
                )
            return {"image": str(file)}

        dataset = dataset.map(resolve)
    if not isinstance(dataset.features["image"], datasets.Image):
        dataset = dataset.cast_column("image", datasets.Image())
    return dataset


def pixmo_points_answer(label: str, points: list[dict[str, float]]) -> str:
    """The Molmo2 answer for PixMo-Points' percent coordinates (``x``, ``y`` in 0-100)."""
    if not points:
        return ABSENT_ANSWER
    groups = " ".join(
        f"{i} {round(float(p['x']) * 10):03d} {round(float(p['y']) * 10):03d}"
        for i, p in enumerate(points, start=1)
    )
    return f'<points alt="{label}" coords="1 {groups}">{label}</points>'


def load_rows(path: str | Path, fmt: str = "synthetic") -> Any:
    """Rows of ``path`` in the common form (``image``, ``prompts``, ``answers``, ``styles``).

    Raises:
        ValueError: unknown format or missing columns; FileNotFoundError: no data or a missing image file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; use one of {FORMATS}")
    root = Path(path)
    dataset = _read(root)
    if fmt == "synthetic":
        missing = {"image", "prompts", "answers", "styles"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"{root} lacks the synthetic columns {sorted(missing)}")
        return dataset
    dataset = _with_image_column(dataset, root)
    if fmt == "pixmo_cap":
        if "caption" not in dataset.column_names:
            raise ValueError(f"pixmo-cap rows need a caption column, got {dataset.column_names}")

        def convert(row: dict[str, Any]) -> dict[str, Any]:
            return {"prompts": [CAPTION_PROMPT], "answers": [row["caption"]], "styles": ["caption"]}

    else:
        missing = {"label", "points"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"pixmo-points rows need {sorted(missing)}, got {dataset.column_names}")

        def convert(row: dict[str, Any]) -> dict[str, Any]:
            points = row["points"] or []
            style = "point" if len(points) == 1 else "point_all" if points else "absent"
            return {
                "prompts": [point_prompt(row["label"])],
                "answers": [pixmo_points_answer(row["label"], points)],
                "styles": [style],
            }

    keep = {"image", "prompts", "answers", "styles"}
    return dataset.map(convert, remove_columns=[c for c in dataset.column_names if c not in keep])
