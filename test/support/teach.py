"""Teaching a tiny Molmo2 a few answers about one picture, so tests can check paths that need a model that
points (a random model answers gibberish). A few dozen AdamW steps on the answer tokens only."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from molmo_ros.models.transformers_backend import TransformersPointModel
from training.molmo2 import EOS_TOKEN, fix_embedding_split


def teach(
    backend: TransformersPointModel, image: np.ndarray, lessons: dict[str, str], steps: int
) -> list[float]:
    """Overfit the backend's model on ``lessons`` (prompt -> answer) about ``image``; returns the losses."""
    model, processor = backend.model, backend.processor
    pil = Image.fromarray(image)
    eos = processor.tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    rows = []
    for prompt, answer in lessons.items():
        messages = [
            {"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": prompt}]}
        ]
        inputs = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        target = processor.tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
        rows.append((inputs, torch.tensor([target])))

    def loss_of(inputs, target: torch.Tensor) -> torch.Tensor:
        batch = dict(inputs)
        batch["input_ids"] = torch.cat([inputs["input_ids"], target], 1)
        batch["attention_mask"] = torch.ones_like(batch["input_ids"])
        batch["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(target)], 1)
        labels = batch["input_ids"].clone()
        labels[:, : inputs["input_ids"].shape[1]] = -100  # learn the answer only
        return model(**batch, labels=labels).loss

    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-3, weight_decay=0.0)
    model.train()
    losses = []
    threads = torch.get_num_threads()
    # One thread: these tensors are tiny, and on a shared 2-core machine two OpenMP threads waiting for
    # each other made the same steps 5x slower whenever another process held a core.
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            loss = sum(loss_of(inputs, target) for inputs, target in rows) / len(rows)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if losses[-1] < 0.01:
                break
    finally:
        torch.set_num_threads(threads)
        model.eval()
    return losses


def save_checkpoint(backend: TransformersPointModel, out_dir) -> None:
    """Write the backend's (taught) model and processor as a checkpoint the node can load."""
    backend.model.save_pretrained(out_dir)
    backend.processor.save_pretrained(out_dir)
    fix_embedding_split(out_dir)
