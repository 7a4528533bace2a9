"""molmo_ros.models.shared_crops (training and the transformers backend): the vision tower computed once per
distinct crop gives the full pass's outputs and gradients (training/README.md, "R21")."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from molmo_ros.models.shared_crops import distinct_crops, repeated_crops, share_identical_crops
from training.molmo2 import tiny_checkpoint


def _model_and_inputs(tmp_path, max_crops: int = 1):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForImageTextToText, AutoProcessor

    src = tiny_checkpoint(tmp_path / "cache")
    processor = AutoProcessor.from_pretrained(src)
    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(2)]
    texts = ["Point to the red cup.<|image|>", "Count the mugs.<|image|>"]
    inputs = processor(text=texts, images=pictures, return_tensors="pt", padding=True, max_crops=max_crops)
    return AutoModelForImageTextToText.from_pretrained(src, dtype=torch.float32), inputs


def _loss_and_grads(model, inputs):  # type: ignore[no-untyped-def]
    model.zero_grad(set_to_none=True)
    out = model(**inputs)
    loss = out.logits.float().pow(2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.logits.detach(), grads


def test_the_processor_gives_each_picture_two_identical_crops(tmp_path) -> None:
    _, inputs = _model_and_inputs(tmp_path)
    flat = inputs["pixel_values"].reshape(-1, *inputs["pixel_values"].shape[-2:])
    # max_crops 1: per picture the global view and the one tile, the same pixels; the next picture differs.
    assert repeated_crops(flat).tolist() == [False, True, False, True]


def test_shared_crops_give_the_full_pass_outputs_and_gradients(tmp_path) -> None:
    model, inputs = _model_and_inputs(tmp_path)
    full_logits, full_grads = _loss_and_grads(model, inputs)
    calls: list[int] = []
    computed: list[int] = []
    model.model.vision_tower.register_forward_hook(lambda m, a, o: calls.append(o.last_hidden_state.shape[0]))
    model.model.vision_tower.layers[0].register_forward_hook(lambda m, a, o: computed.append(o.shape[0]))
    share_identical_crops(model.model.vision_tower)
    shared_logits, shared_grads = _loss_and_grads(model, inputs)
    assert computed == [2]  # one ViT pass per picture
    assert calls == [4]  # the hook on the tower still sees one row per crop
    torch.testing.assert_close(shared_logits, full_logits, rtol=1e-5, atol=1e-6)
    assert shared_grads.keys() == full_grads.keys()
    vit = [n for n in full_grads if "vision_tower" in n]
    assert vit and all(float(full_grads[n].abs().sum()) > 0 for n in vit)
    for name, grad in full_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_distinct_crops_run_as_before(tmp_path) -> None:
    model, inputs = _model_and_inputs(tmp_path, max_crops=2)  # the global view and two different tiles
    assert not repeated_crops(inputs["pixel_values"].reshape(-1, *inputs["pixel_values"].shape[-2:])).any()
    seen: list[int] = []
    model.model.vision_tower.layers[0].register_forward_hook(lambda m, a, o: seen.append(o.shape[0]))
    share_identical_crops(model.model.vision_tower)
    with torch.no_grad():
        model(**inputs)
    assert seen == [6]  # every crop computed


def test_distinct_crops_keep_each_run_once_and_index_every_crop() -> None:
    a, b = torch.zeros(1, 4, 6), torch.ones(1, 4, 6)
    crops = torch.cat([a, a, b, b, a])  # a later repeat of a is its own run: the tower compares neighbours
    unique, source = distinct_crops(crops)
    assert torch.equal(unique, torch.cat([a, b, a]))
    assert source.tolist() == [0, 0, 1, 1, 2]
    assert torch.equal(unique[source], crops)
    differ = torch.cat([a, b, a])
    unique, source = distinct_crops(differ)
    assert unique is differ and source.tolist() == [0, 1, 2]  # nothing repeats: no copy of the pixels
