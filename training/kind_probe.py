"""How well the picture features tell the object kinds apart: the kind accuracy of a training checkpoint's own
auxiliary heads (:class:`training.aux_heads.AuxHeads`, saved in its ``trainer_state.pt``) on its held-out rows.

For every patch (and every pooled image token) that one object covers by at least ``--min-cover`` of its area,
the head's most likely *object* kind (class 0, "no object", left out) is compared with that object's kind. This
measures what the vision tower and the connector carry, not what the language model does with it: a kind the
heads cannot tell apart here is one the answers confuse too (training/README.md, "R18").

    python -m training.kind_probe --checkpoint out/training/stage2_vision/checkpoints/step_600 --batches 10
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["kind_accuracy", "main", "tally_kinds"]


def tally_kinds(
    logits: torch.Tensor, kind: torch.Tensor, n_colour: int, min_cover: float
) -> dict[int, tuple[int, int]]:
    """Right and seen counts per kind class (1-based, as the targets) for one set of rows.

    Args:
        logits: ``(rows, n_colour + n_kind)`` head outputs (colour classes first).
        kind: ``(rows, n_kind)`` soft kind targets (class 0 = no object), each row summing to 1.
        n_colour: colour classes in ``logits`` (class 0 included).
        min_cover: a row counts when one kind covers at least this fraction of it.
    """
    share, truth = kind[:, 1:].max(dim=1)
    keep = share >= min_cover
    guess = logits[:, n_colour + 1 :].argmax(dim=1)
    out: dict[int, tuple[int, int]] = {}
    for k in truth[keep].unique().tolist():
        rows = keep & (truth == k)
        out[k + 1] = (int((guess[rows] == k).sum()), int(rows.sum()))
    return out


def _add(total: dict[int, list[int]], part: dict[int, tuple[int, int]]) -> None:
    for k, (right, seen) in part.items():
        acc = total.setdefault(k, [0, 0])
        acc[0] += right
        acc[1] += seen


def kind_accuracy(
    checkpoint: Path, batches: int = 10, min_cover: float = 0.5, data: Sequence[str] = ()
) -> dict[str, Any]:
    """Per-kind accuracy of ``checkpoint``'s auxiliary kind heads on ``batches`` held-out batches of the data
    its config trained on (the same held-out split as training), or of the sets in ``data``.

    Returns:
        ``{"patch": {kind: accuracy}, "token": {kind: accuracy}, "seen": {"patch": {kind: n}, ...}}``.
    Raises:
        ValueError: the checkpoint holds no auxiliary heads (a run without ``aux:`` weights, or an export).
    """
    from transformers import AutoProcessor, Molmo2ForConditionalGeneration

    from molmo_ros.sim.catalogue import KINDS
    from training.aux_heads import AuxHeads
    from training.aux_targets import pool_to_tokens
    from training.batching import BatchSource
    from training.checkpoint import CONFIG_FILE, STATE_FILE
    from training.config import load_config
    from training.data.loaders import load_rows
    from training.train_loop import split_rows
    from training.vision_pass import image_features

    state_file = checkpoint / STATE_FILE
    state = torch.load(state_file, weights_only=False) if state_file.is_file() else {}
    if "aux_heads" not in state:
        raise ValueError(
            f"{checkpoint} holds no auxiliary heads ({STATE_FILE} with 'aux_heads'): "
            "give a training checkpoint (out_dir/checkpoints/step_N) of a run with aux weights"
        )
    cfg = load_config(str(checkpoint / CONFIG_FILE))
    model = Molmo2ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(checkpoint)
    a = cfg.aux
    heads = AuxHeads.for_config(model, a)
    heads.load_state_dict(state["aux_heads"])
    paths = data or (cfg.data.train, *cfg.data.more_train)
    sets = [load_rows(p, cfg.data.format) for p in paths]
    _, eval_rows = split_rows(sets, cfg.data.eval_fraction)
    if not len(eval_rows):
        raise ValueError(
            f"{', '.join(paths)} leave no held-out rows (data.eval_fraction {cfg.data.eval_fraction})"
        )
    source = BatchSource(
        eval_rows,
        processor,
        cfg.data.batch_size,
        cfg.data.max_turns,
        cfg.data.max_seq_len,
        cfg.seed + 1,
        aux_targets=True,
        position_frequencies=a.position_frequencies,
    )
    totals: dict[str, dict[int, list[int]]] = {"patch": {}, "token": {}}
    with torch.no_grad():
        for i in range(min(batches, len(source))):
            batch = source[i]
            image_features(model, batch)
            patch, token = heads.take_features()
            kind = batch["aux_kind"]
            patch_logits = heads.patch(patch.reshape(-1, patch.shape[-1]))
            _add(totals["patch"], tally_kinds(patch_logits, kind, heads.n_colour, min_cover))
            token_kind = pool_to_tokens(kind, batch["image_token_pooling"])
            token_logits = heads.token(token.reshape(-1, token.shape[-1]))
            _add(totals["token"], tally_kinds(token_logits, token_kind, heads.n_colour, min_cover))
    names = list(KINDS)
    return {
        level: {names[k - 1]: round(r / n, 3) for k, (r, n) in sorted(t.items())}
        for level, t in totals.items()
    } | {"seen": {level: {names[k - 1]: n for k, (_, n) in sorted(t.items())} for level, t in totals.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="out_dir/checkpoints/step_N of a run")
    parser.add_argument("--batches", type=int, default=10, help="held-out batches to read")
    parser.add_argument(
        "--min-cover", type=float, default=0.5, help="fraction of a patch one kind must cover"
    )
    parser.add_argument("--data", nargs="*", default=(), help="data sets instead of the run's own")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(kind_accuracy(args.checkpoint, args.batches, args.min_cover, args.data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
