"""The guided-attention loss recomputes the guided heads' probabilities from what the SDPA attention computes on
the way (normalised q / k, RoPE, mask): they must equal what the eager attention returns (causal text,
bidirectional picture, padding)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from support.tiny_processor import tiny_processor
from training.aux_heads import AuxHeads, attention_at
from training.batching import collate, encode_example


@pytest.fixture(scope="module")
def model_and_batch(tmp_path_factory):
    from transformers import AutoModelForImageTextToText

    folder = tmp_path_factory.mktemp("guided")
    processor = tiny_processor(folder, image_pooling=(2, 2), coordinate_tokens=True, question_first=True)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    # Random projections and norm gains, so that no head attends evenly by chance.
    with torch.no_grad():
        for name, param in model.model.language_model.named_parameters():
            if "self_attn" in name:
                param.normal_(0.0, 0.5 if "norm" not in name else 1.0)
    pictures = [Image.new("RGB", (160, 120), c) for c in ((200, 30, 30), (20, 40, 220))]
    examples = [
        encode_example(
            processor,
            pictures[0],
            [("Point to the red cup.", '<points coords="1 1 250 500">cup</points>')],
            512,
        ),
        encode_example(
            processor, pictures[1], [("Count the balls in this picture.", "There are none.")], 512
        ),
    ]
    batch = collate(examples, int(processor.tokenizer.pad_token_id))
    inputs = {k: v for k, v in batch.items() if not k.startswith("aux_") and k != "labels"}
    return model, inputs


@pytest.mark.parametrize("layer", [0, 1])
def test_recomputed_guided_heads_equal_the_eager_attention(model_and_batch, layer: int) -> None:
    model, inputs = model_and_batch
    lengths = inputs["attention_mask"].sum(1)
    assert lengths[0] != lengths[1]  # one example is padded
    model.train()
    model.set_attn_implementation("eager")
    with torch.no_grad():
        eager = model(**inputs, output_attentions=True).attentions[layer]  # (B, H, L, L)
        model.set_attn_implementation("sdpa")
        aux = AuxHeads(model)
        aux.watch_attention(model, [layer])
        model(**inputs)
    seen = aux._seen[f"attn{layer}"]
    # Query positions in both examples, in the text before the picture, inside it, and at the end.
    rows = torch.tensor([0, 0, 0, 1, 1, 1])
    ends = lengths - 1
    first_image = inputs["mm_token_type_ids"].argmax(1)
    cols = torch.tensor([3, int(first_image[0]) + 2, int(ends[0]), 2, int(first_image[1]) + 1, int(ends[1])])
    heads = eager.shape[1]
    with torch.no_grad():
        recomputed = attention_at(**seen, rows=rows, cols=cols, heads=heads)
    expected = eager[rows, :, cols]
    assert recomputed.shape == expected.shape
    assert torch.allclose(recomputed, expected, atol=1e-5)
    # Queries in the second sequence only (its keys are then the only ones computed).
    with torch.no_grad():
        second = attention_at(**seen, rows=rows[3:], cols=cols[3:], heads=heads)
    assert torch.allclose(second, expected[3:], atol=1e-5)
    # The probabilities differ between heads and positions: equality above is not of two uniform rows.
    assert float(expected.std()) > 0.01
    # Picture tokens see the picture tokens after them (Molmo2's bidirectional picture), text does not look ahead.
    image_row = expected[1, 0]
    assert float(image_row[int(first_image[0]) + 3 :].sum()) > 0
    assert float(expected[0, 0, 4:].sum()) == 0.0
