"""Training-only auxiliary heads (:class:`training.config.AuxConfig`): our stand-in for a pretrained vision encoder
and the supervision that teaches a small decoder to bind a question to the picture and read a point off it.
The heads are not part of the exported model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from transformers.models.molmo2.modeling_molmo2 import rotate_half

from training.aux_targets import pool_to_tokens

__all__ = ["AuxHeads", "attention_at"]


class AuxHeads(torch.nn.Module):
    """Linear heads of the auxiliary vision loss (:class:`training.config.AuxConfig`), fed by forward hooks on
    the ViT and the connector of ``model`` during the ordinary forward pass (no second pass)."""

    def __init__(
        self,
        model: Any,
        pointer_dim: int = 64,
        position_frequencies: int = 0,
        order_ranks: int = 0,
        object_kinds: bool = False,
    ) -> None:
        super().__init__()
        from training.aux_targets import aux_class_counts

        n_colour, n_kind = aux_class_counts()
        vit = model.model.vision_tower.config.hidden_size
        text = model.config.text_config.hidden_size
        self.patch = torch.nn.Linear(vit, n_colour + n_kind)
        # Object kinds only (no "no object" class); made only when on, so older checkpoints' heads still load.
        self.object_kind = torch.nn.Linear(vit, n_kind - 1) if object_kinds else None
        self.token = torch.nn.Linear(text, n_colour + n_kind)
        self.query = torch.nn.Linear(text, pointer_dim)
        self.key = torch.nn.Linear(text, pointer_dim)
        self.coord = torch.nn.Linear(text, 2)
        self.token_xy = torch.nn.Linear(
            text, 2 if position_frequencies <= 0 else 2 * (1 + 2 * position_frequencies)
        )
        self.relevance = torch.nn.Linear(text, 1)
        self.order = torch.nn.Linear(text, 1 + order_ranks) if order_ranks > 0 else None
        self.image_token_id = int(
            getattr(model.config, "image_token_id", None) or model.config.image_patch_id
        )
        self.n_colour = n_colour
        self._seen: dict[str, Any] = {}
        inner = model.model
        self._hooks = [
            inner.vision_tower.register_forward_hook(self._keep("patch")),
            inner.multi_modal_projector.register_forward_hook(self._keep("token")),
        ]

    @classmethod
    def for_config(cls, model: Any, cfg: Any) -> AuxHeads:
        """The heads a run with these aux settings (:class:`training.config.AuxConfig`) trains and its
        checkpoints hold: the order and object-kind heads only when their losses are on."""
        ranks, kinds = cfg.active_order_ranks, cfg.object_kind_weight > 0
        return cls(model, cfg.pointer_dim, cfg.position_frequencies, ranks, kinds)

    @classmethod
    def for_training(
        cls, model: Any, cfg: Any, seed: int, device: Any
    ) -> tuple[AuxHeads | None, list[dict[str, Any]]]:
        """The heads a run trains, on ``device``, seeded from ``seed`` (None when no aux loss is on:
        ``cfg.active``), and their optimizer parameter group (peak lr ``cfg.lr``, no weight decay)."""
        if not cfg.active:
            return None, []
        torch.manual_seed(seed + 17)
        heads = cls.for_config(model, cfg).to(device)
        if cfg.attention_weight > 0:
            heads.watch_attention(model, cfg.attention_layers)
        group = {"params": list(heads.parameters()), "lr": cfg.lr, "peak_lr": cfg.lr}
        return heads, [{**group, "weight_decay": 0.0, "component": "aux"}]

    def _keep(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self._seen[name] = output.last_hidden_state

        return hook

    def take_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ViT's patch features ``(crops, patches, vit hidden)`` and the connector's image tokens
        ``(tokens, text hidden)`` the hooks kept from the last forward pass (and forget them)."""
        return self._seen.pop("patch"), self._seen.pop("token")

    def _object_kind_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Cross-entropy of each object's kind from its patch features averaged with its mask coverage as
        weights (``aux_object_cover``: ``(objects, all patches)``, ``aux_object_kind``: ``(objects,)``); None
        when the batch has no objects. Called by :meth:`loss` only when the head exists."""
        cover = batch.get("aux_object_cover")
        if cover is None or cover.shape[0] == 0:
            return None
        feats = self._seen["patch"].reshape(-1, self._seen["patch"].shape[-1])
        pooled = (cover / cover.sum(dim=1, keepdim=True).clamp(min=1e-6)) @ feats
        return torch.nn.functional.cross_entropy(self.object_kind(pooled), batch["aux_object_kind"])

    def _soft_ce(
        self, logits: torch.Tensor, colour: torch.Tensor, kind: torch.Tensor, w: float
    ) -> torch.Tensor:
        covered = 1.0 - colour[:, 0]
        weight = 1.0 + w * covered
        lc = -(colour * torch.log_softmax(logits[:, : self.n_colour], -1)).sum(-1)
        lk = -(kind * torch.log_softmax(logits[:, self.n_colour :], -1)).sum(-1)
        return ((lc + lk) * weight).sum() / weight.sum()

    def loss(
        self,
        batch: dict[str, torch.Tensor],
        patch_weight: float,
        token_weight: float,
        object_weight: float,
        position_weight: float = 0.0,
        object_kind_weight: float = 0.0,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The weighted auxiliary loss of the last forward pass, and its parts (for the log)."""
        colour, kind = batch["aux_colour"], batch["aux_kind"]
        total = torch.zeros((), device=colour.device)
        parts: dict[str, float] = {}
        if patch_weight > 0 and "patch" in self._seen:
            feats = self._seen["patch"].reshape(-1, self._seen["patch"].shape[-1])
            lp = self._soft_ce(self.patch(feats), colour, kind, object_weight)
            total = total + patch_weight * lp
            parts["aux_patch"] = float(lp.detach())
        if object_kind_weight > 0 and self.object_kind is not None and "patch" in self._seen:
            lo = self._object_kind_loss(batch)
            if lo is not None:
                total = total + object_kind_weight * lo
                parts["aux_object_kind"] = float(lo.detach())
        pool = batch["image_token_pooling"]
        if token_weight > 0 and "token" in self._seen:
            feats = self._seen["token"]
            lt = self._soft_ce(
                self.token(feats.reshape(-1, feats.shape[-1])),
                pool_to_tokens(colour, pool),
                pool_to_tokens(kind, pool),
                object_weight,
            )
            total = total + token_weight * lt
            parts["aux_token"] = float(lt.detach())
        if position_weight > 0 and "token" in self._seen and "aux_patch_xy" in batch:
            feats = self._seen["token"]
            pred = self.token_xy(feats.reshape(-1, feats.shape[-1]))
            if "aux_token_position" in batch:  # the covering object's point, as a smooth code
                target = batch["aux_token_position"]
                weight = 1.0 + object_weight * batch["aux_token_covered"]
                per_token = torch.nn.functional.smooth_l1_loss(
                    pred, target, beta=0.05, reduction="none"
                ).mean(-1)
                lxy = (per_token * weight).sum() / weight.sum()
            else:
                target = pool_to_tokens(batch["aux_patch_xy"], pool)
                lxy = torch.nn.functional.smooth_l1_loss(pred, target, beta=0.05)
            total = total + position_weight * lxy
            parts["aux_token_xy"] = float(lxy.detach())
        self._seen.pop("patch", None), self._seen.pop("token", None)
        return total, parts

    def _digit_targets(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """The coordinate-digit positions (``rows``, ``cols``), their targets over the image tokens
        ``(Q, n_img)`` and the image-token mask ``(B, L)``; None when the batch has no point answers or its
        examples differ in image-token count (then the targets would not line up)."""
        if "aux_ptr_rows" not in batch:
            return None
        target = batch["aux_ptr_targets"]
        is_image = batch["input_ids"] == self.image_token_id
        n_img = int(is_image[0].sum())
        if n_img != target.shape[1] or not bool((is_image.sum(1) == n_img).all()):
            return None
        return batch["aux_ptr_rows"], batch["aux_ptr_cols"], target, is_image

    def pointer_loss(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor | None:
        """Soft cross-entropy of a bilinear pointer from the LM states that predict coordinate digits onto the
        picture's image-token states (targets: the pointed object's share of each token)."""
        found = self._digit_targets(batch)
        if found is None:
            return None
        rows, cols, target, is_image = found
        n_img = target.shape[1]
        keys = hidden[is_image].reshape(hidden.shape[0], n_img, -1)[rows]  # (Q, n_img, D)
        q = self.query(hidden[rows, cols])  # (Q, d)
        k = self.key(keys)  # (Q, n_img, d)
        scores = torch.einsum("qd,qnd->qn", q, k) / math.sqrt(q.shape[-1])
        return -(target * torch.log_softmax(scores, -1)).sum(-1).mean()

    def relevance_loss(
        self, batch: dict[str, torch.Tensor], hidden: torch.Tensor, object_weight: float
    ) -> torch.Tensor | None:
        """Soft binary cross-entropy of a linear head on the LM states of the image tokens: does this token show
        what the question asks for (target: the asked-for objects' share of it; 0 everywhere for an absent
        object). Tokens covered by an asked-for object weigh ``1 + object_weight``."""
        if "aux_relevance" not in batch:
            return None
        is_image = batch["input_ids"] == self.image_token_id
        states = hidden[is_image]  # (valid image tokens of the batch, D), in the connector's order
        target, known = batch["aux_relevance"], batch["aux_relevance_known"]
        if states.shape[0] != target.shape[0] or not bool(known.any()):
            return None
        logits = self.relevance(states)[:, 0]
        weight = known * (1.0 + object_weight * target)
        losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return (losses * weight).sum() / weight.sum()

    def order_loss(
        self, batch: dict[str, torch.Tensor], hidden: torch.Tensor, object_weight: float
    ) -> torch.Tensor | None:
        """Soft cross-entropy of a linear head on the LM states of the image tokens: which point group of the
        answer this token's object gets (:func:`training.aux_targets.relevance_targets` with ``ranks``). Tokens
        an asked-for object covers weigh ``1 + object_weight``, as in :meth:`relevance_loss`."""
        if self.order is None or "aux_order" not in batch:
            return None
        states = hidden[batch["input_ids"] == self.image_token_id]
        target, known = batch["aux_order"], batch["aux_relevance_known"]
        if states.shape[0] != target.shape[0] or not bool(known.any()):
            return None
        weight = known * (1.0 + object_weight * (1.0 - target[:, 0]))
        losses = -(target * torch.log_softmax(self.order(states), -1)).sum(-1)
        return (losses * weight).sum() / weight.sum()

    def coord_loss(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor) -> torch.Tensor | None:
        """Squared error (x10) of the pointed object's (x, y) (0-1 of the picture) read linearly from the LM state
        that predicts the point's first coordinate digit (later digits could read the digits already written)."""
        if "aux_ptr_xy" not in batch:
            return None
        first = ~batch["aux_ptr_xy"][:, 0].isnan()
        if not bool(first.any()):
            return None
        rows, cols = batch["aux_ptr_rows"][first], batch["aux_ptr_cols"][first]
        pred = torch.sigmoid(self.coord(hidden[rows, cols]))
        return (pred - batch["aux_ptr_xy"][first]).pow(2).sum(-1).mean() * 10.0

    def watch_attention(self, model: Any, layers: Sequence[int]) -> None:
        """Keep what these LM layers' attention computes on the way (the normalised queries and keys, the RoPE
        tables, the mask): :meth:`attention_loss` recomputes the guided heads' probabilities from them at the
        coordinate positions only, so the whole LM keeps its fused (SDPA) attention instead of running the
        eager one in every layer to return its probabilities. Only outputs computed inside the model's forward
        are kept (no parameter is used outside it, which FSDP's sharded parameters would refuse)."""
        n_layers = len(model.model.language_model.layers)
        outside = [i for i in layers if not 0 <= i < n_layers]
        if outside:
            raise ValueError(f"aux.attention_layers {list(outside)} outside the model's {n_layers} LM layers")
        for i in layers:
            attn = model.model.language_model.layers[i].self_attn
            name = f"attn{i}"
            self._hooks += [
                attn.register_forward_pre_hook(self._keep_attention_inputs(name), with_kwargs=True),
                attn.q_norm.register_forward_hook(self._keep_output(name, "q")),
                attn.k_norm.register_forward_hook(self._keep_output(name, "k")),
            ]

    def _keep_attention_inputs(self, name: str) -> Any:
        def hook(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
            self._seen[name] = {
                "module": module,
                "rope": kwargs["position_embeddings"],
                "mask": kwargs.get("attention_mask"),
            }

        return hook

    def _keep_output(self, name: str, key: str) -> Any:
        def hook(module: Any, args: Any, output: torch.Tensor) -> None:
            self._seen[name][key] = output

        return hook

    def attention_loss(
        self, batch: dict[str, torch.Tensor], layers: Sequence[int], heads: int
    ) -> torch.Tensor | None:
        """Soft cross-entropy between the guided heads' attention at the positions that predict coordinate digits
        and the pointed object's share of each image token (mass elsewhere counts as a miss)."""
        found = self._digit_targets(batch)
        if found is None:
            return None
        rows, cols, target, is_image = found
        n_img = target.shape[1]
        img_pos = is_image.nonzero()[:, 1].reshape(is_image.shape[0], n_img)[rows]  # (Q, n_img)
        losses = []
        for i in layers:
            seen = self._seen.pop(f"attn{i}", None)
            if seen is None:
                continue
            picked = attention_at(**seen, rows=rows, cols=cols, heads=heads)  # (Q, heads, L)
            on_image = picked.gather(2, img_pos[:, None, :].expand(-1, picked.shape[1], -1))
            losses.append(-(target[:, None, :] * torch.log(on_image + 1e-6)).sum(-1).mean())
        return torch.stack(losses).mean() if losses else None


def attention_at(
    module: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor],
    mask: torch.Tensor | None,
    rows: torch.Tensor,
    cols: torch.Tensor,
    heads: int,
) -> torch.Tensor:
    """The attention probabilities of the first ``heads`` heads of a Molmo2 LM attention ``module`` at the query
    positions ``(rows, cols)`` (Q of them), over every position of their sequences, as its eager attention
    computes them: (Q, heads, L).

    q, k: the outputs of the module's ``q_norm`` / ``k_norm`` (before RoPE), (B, L, H * head_dim) or
    (B, L, H, head_dim), KV heads for k; rope: (cos, sin), each (B or 1, L, head_dim); mask: the 4-D mask it was
    given, (B, 1, L, L), boolean (True: may attend) or additive, or None for plain causal attention.
    """
    hd, batch, length = module.head_dim, q.shape[0], q.shape[1]
    # Keys only of the sequences that hold a query.
    seqs, seq_of = torch.unique(rows, return_inverse=True)
    q = q.reshape(batch, length, -1, hd)[rows, cols, :heads]  # (Q, heads, hd)
    k = k.reshape(batch, length, -1, hd)[seqs]  # (S, L, KV, hd)
    k = k[:, :, torch.arange(heads, device=k.device) // module.num_key_value_groups]  # (S, L, heads, hd)
    cos, sin = (t.expand(batch, -1, -1) for t in rope)  # batch 1 when all rows share positions
    q = q * cos[rows, cols][:, None] + rotate_half(q) * sin[rows, cols][:, None]
    k = k * cos[seqs][:, :, None] + rotate_half(k) * sin[seqs][:, :, None]
    k = k[seq_of]  # (Q, L, heads, hd)
    scores = torch.einsum("qhd,qlhd->qhl", q, k).float() * module.scaling
    if mask is None:
        allowed = torch.arange(length, device=k.device)[None] <= cols[:, None]
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    elif mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask[rows, 0, cols][:, None], float("-inf"))
    else:
        scores = scores + mask[rows, 0, cols][:, None].float()
    return torch.softmax(scores, -1)


def weighted_aux_loss(
    aux: AuxHeads, batch: dict[str, torch.Tensor], hidden_states: Any, cfg: Any, ramp: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """The sum of the auxiliary losses a batch has targets for, each times its weight in `cfg`
    (:class:`training.config.AuxConfig`) and the schedule's `ramp`; and each loss's value for the log.

    hidden_states: the LM's per-layer hidden states (``output_hidden_states=True``), or None when no head
    reads them.
    """
    total, parts = aux.loss(
        batch,
        cfg.patch_weight * ramp,
        cfg.token_weight * ramp,
        cfg.object_weight,
        cfg.position_weight * ramp,
        cfg.object_kind_weight * ramp,
    )
    terms = []
    if hidden_states is not None and cfg.pointer_weight > 0:
        terms.append(
            ("aux_pointer", cfg.pointer_weight, aux.pointer_loss(batch, hidden_states[cfg.pointer_layer]))
        )
    if hidden_states is not None and cfg.relevance_weight > 0:
        hidden = hidden_states[cfg.relevance_layer]
        terms.append(
            ("aux_relevance", cfg.relevance_weight, aux.relevance_loss(batch, hidden, cfg.object_weight))
        )
    if hidden_states is not None and cfg.order_weight > 0:
        hidden = hidden_states[cfg.relevance_layer]
        terms.append(("aux_order", cfg.order_weight, aux.order_loss(batch, hidden, cfg.object_weight)))
    if hidden_states is not None and cfg.coord_weight > 0:
        terms.append(("aux_coord", cfg.coord_weight, aux.coord_loss(batch, hidden_states[cfg.coord_layer])))
    if cfg.attention_weight > 0:
        guided = aux.attention_loss(batch, cfg.attention_layers, cfg.attention_heads)
        terms.append(("aux_attention", cfg.attention_weight, guided))
    for name, weight, value in terms:
        if value is not None:
            total = total + weight * ramp * value
            parts[name] = float(value.detach())
    return total, parts
