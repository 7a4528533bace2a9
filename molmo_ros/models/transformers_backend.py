"""In-process backend: a Molmo checkpoint run with transformers.

Two families:

* **Molmo2** (native in transformers): ``allenai/Molmo2-4B``, ``allenai/Molmo2-8B`` and this project's own
  checkpoints (:mod:`training.molmo2`, the bundled ``molmo2-tiny-sim``), loaded through
  ``AutoProcessor`` + ``AutoModelForImageTextToText``; the prompt goes through the processor's chat template
  (one image + one text part in a user turn), exactly as the Molmo2 model card does.
* **Molmo v1** (``allenai/Molmo-7B-D-0924`` ...): code that lives in the checkpoint, so it runs only when
  ``trust_remote_code=True`` is passed explicitly; its own ``processor.process`` and
  ``model.generate_from_batch`` are used as in its model card.

(A little over 400 lines: the two families' loading and generation paths belong together.) Decoding is greedy
with a bounded ``max_new_tokens``; inference runs under ``torch.inference_mode()``.
Defaults: bf16 on CUDA (fp16 where the GPU has no bf16), fp32 on the CPU; the attention implementation is
``flash_attention_2`` on CUDA when the ``flash_attn`` package is installed, else ``sdpa``, else ``eager``.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from molmo_ros.errors import ModelError, ModelUnavailableError
from molmo_ros.models.base import PointModel, RawAnswer
from molmo_ros.models.checkpoint_source import resolve_source
from molmo_ros.models.devices import DeviceChoice, attn_candidates, is_oom, oom_error, resolve_device
from molmo_ros.models.single_resize import resize_once

__all__ = [
    "BUNDLED_MODEL_NAME",
    "DeviceChoice",
    "TransformersPointModel",
    "bundled_model_dir",
    "default_model_path",
    "molmo2_inputs",
    "resolve_device",
]

logger = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "molmo2-tiny-sim"


def bundled_model_dir() -> Path:
    """Where the package's own checkpoint lives: ``molmo_ros/checkpoints/molmo2-tiny-sim``."""
    return Path(__file__).resolve().parent.parent / "checkpoints" / BUNDLED_MODEL_NAME


def molmo2_inputs(processor: Any, picture: Any, prompt: str) -> Any:
    """A Molmo2 processor's model inputs (``BatchFeature`` of tensors, batch of one) for one user turn: the
    ``picture`` (PIL) and the ``prompt``, through the checkpoint's chat template, ready for the answer."""
    messages = [
        {"role": "user", "content": [{"type": "image", "image": picture}, {"type": "text", "text": prompt}]}
    ]
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


def default_model_path() -> Path:
    """The bundled checkpoint's directory, when the package has one.

    Raises:
        ModelUnavailableError: the package ships no checkpoint (yet); the message says how to get a model.
    """
    path = bundled_model_dir()
    if (path / "config.json").is_file():
        return path
    raise ModelUnavailableError(
        f"no bundled model: {path} does not hold a checkpoint. Train and export one with the project's "
        "training pipeline (training/, see the README), or pass a model explicitly: a local checkpoint "
        "directory or a hub id such as allenai/Molmo2-4B (needs the weights in the local Hugging Face cache "
        "or network access)."
    )


class TransformersPointModel(PointModel):
    """A Molmo2 (or, with ``trust_remote_code``, Molmo v1) checkpoint loaded in this process."""

    backend = "transformers"

    def __init__(
        self,
        model: str | os.PathLike[str],
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        max_new_tokens: int = 64,
        attn_implementation: str = "auto",
        local_files_only: bool | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        """Load the model and its processor.

        Args:
            model: a local checkpoint directory or a hub id (``allenai/Molmo2-8B``).
            device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"`` (see :func:`resolve_device`).
            dtype: ``"auto"`` | ``"float32"`` | ``"bfloat16"`` | ``"float16"``.
            trust_remote_code: allow code shipped inside the checkpoint (needed by Molmo v1 only).
            max_new_tokens: the longest answer, tokens.
            attn_implementation: ``"auto"`` or a transformers name (``"sdpa"``, ``"eager"``,
                ``"flash_attention_2"``).
            local_files_only: never contact the hub (``None``: transformers' default, which honours
                ``HF_HUB_OFFLINE``).
            cpu_threads: torch's intra-op CPU threads for the whole *process* (``None``: leave torch's default,
                one per core). On a small shared machine 1 is often fastest: measured on 2 cores with another
                process busy, the tiny model's p50 was 75 ms with 1 thread and 690 ms with 2 (57 ms with 2 when
                the machine was idle).

        Raises:
            ModelUnavailableError: missing directory, not a model directory, a model type that is not a Molmo
                image-text model, remote code without ``trust_remote_code``, bad device or dtype, out of
                memory, or any other loading failure (the reason is in the message).
        """
        super().__init__(str(model), max_new_tokens)
        self._choice = resolve_device(device, dtype)
        if cpu_threads is not None:
            import torch

            if not isinstance(cpu_threads, int) or cpu_threads < 1:
                raise ModelUnavailableError(f"cpu_threads must be a positive integer, got {cpu_threads!r}")
            torch.set_num_threads(cpu_threads)
        self._trust_remote_code = bool(trust_remote_code)
        self._local_files_only = local_files_only
        self._source = resolve_source(str(model), self._trust_remote_code)
        self._kind = ""  # "molmo2" or "molmo1", set by _load
        self._attn = ""
        self._model: Any = None
        self._processor: Any = None
        self._points_end: Any = None  # StoppingCriteriaList for stop_after_points, built on first use
        self._load(attn_implementation)

    @classmethod
    def from_loaded(
        cls, model: Any, processor: Any, name: str = "in-memory", max_new_tokens: int = 64
    ) -> TransformersPointModel:
        """Wrap a Molmo2 model and processor already in memory (being trained, or built by
        :func:`training.molmo2.build_molmo2`) without saving and reloading them.

        The device and dtype are those of the model's parameters.

        Raises:
            ModelUnavailableError: the model is not a Molmo2 model.
        """
        if getattr(getattr(model, "config", None), "model_type", None) != "molmo2":
            raise ModelUnavailableError(f"from_loaded takes a Molmo2 model, got {type(model).__name__}")
        self = cls.__new__(cls)
        PointModel.__init__(self, name, max_new_tokens)
        parameter = next(model.parameters())
        self._choice = DeviceChoice(str(parameter.device), str(parameter.dtype).removeprefix("torch."))
        self._trust_remote_code = False
        self._local_files_only = None
        self._source = name
        self._kind = "molmo2"
        self._attn = str(getattr(model.config, "_attn_implementation", ""))
        self._model = model.eval()
        self._processor = processor
        self._points_end = None
        return self

    # ------------------------------------------------------------------------------------------ loading

    def _load(self, attn_implementation: str) -> None:
        import torch
        from transformers import AutoConfig

        source, choice = self._source, self._choice
        common: dict[str, Any] = {"trust_remote_code": self._trust_remote_code}
        if self._local_files_only is not None:
            common["local_files_only"] = self._local_files_only
        try:
            config = AutoConfig.from_pretrained(source, **common)
        except Exception as exc:
            raise ModelUnavailableError(self._load_reason(exc, "configuration")) from exc
        model_type = getattr(config, "model_type", "")
        if model_type == "molmo2":
            self._kind = "molmo2"
        elif self._trust_remote_code and getattr(config, "auto_map", None):
            self._kind = "molmo1"
        else:
            raise ModelUnavailableError(
                f"{source!r} is a {model_type!r} model, not a Molmo image-text model (expected 'molmo2', or "
                "a Molmo v1 remote-code checkpoint with trust_remote_code=True)"
            )

        torch_dtype = getattr(torch, choice.dtype)
        errors: list[str] = []
        for attn in attn_candidates(choice, attn_implementation):
            try:
                self._model = self._load_model(source, torch_dtype, attn, common)
                self._attn = attn
                break
            except (ValueError, ImportError) as exc:
                # transformers refuses an attention implementation the model or the machine lacks with
                # ValueError / ImportError before allocating anything; the next candidate may work.
                about_attention = any(w in str(exc).lower() for w in ("attn", "attention"))
                if attn_implementation != "auto" or not about_attention:
                    raise ModelUnavailableError(self._load_reason(exc, "model")) from exc
                errors.append(f"{attn}: {exc}")
                logger.info("attention implementation %s unavailable for %s: %s", attn, source, exc)
            except Exception as exc:
                if is_oom(exc):
                    self._free()
                    raise oom_error(source, choice, exc) from exc
                raise ModelUnavailableError(self._load_reason(exc, "model")) from exc
        else:
            raise ModelUnavailableError(f"no attention implementation worked for {source!r}: {errors}")

        try:
            from transformers import AutoProcessor

            self._processor = AutoProcessor.from_pretrained(source, **common)
        except Exception as exc:
            self._free()
            raise ModelUnavailableError(self._load_reason(exc, "processor")) from exc
        if self._kind == "molmo2" and getattr(self._processor, "chat_template", None) is None:
            self._free()
            raise ModelUnavailableError(f"{source!r} has no chat template in its processor files")
        logger.info("loaded %s", self.describe())

    def _load_model(self, source: str, torch_dtype: Any, attn: str, common: dict[str, Any]) -> Any:
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

        from molmo_ros.models.shared_crops import share_identical_crops

        cls = AutoModelForImageTextToText if self._kind == "molmo2" else AutoModelForCausalLM
        kwargs: dict[str, Any] = dict(common, dtype=torch_dtype, attn_implementation=attn)
        if self._choice.device != "cpu":
            # Weights go straight to the GPU instead of a full copy in host memory first.
            kwargs["device_map"] = self._choice.device
        if self._kind == "molmo1":
            # Molmo v1's remote code predates the attention switch; it picks its own.
            kwargs.pop("attn_implementation")
        model = cls.from_pretrained(source, **kwargs)
        if self._choice.device == "cpu":
            model = model.to(self._choice.device)
        tower = getattr(getattr(model, "model", None), "vision_tower", None)
        if self._kind == "molmo2" and tower is not None:
            share_identical_crops(tower)  # the tiny checkpoint's two views of a picture are the same pixels
        return model.eval()

    def _load_reason(self, exc: BaseException, what: str) -> str:
        text = str(exc).strip().splitlines()
        first = text[0][:400] if text else ""
        if "trust_remote_code" in str(exc):
            return (
                f"{self._source!r} needs trust_remote_code=True to load (its code ships with the checkpoint): "
                f"{first}"
            )
        return f"cannot load the {what} of {self._source!r}: {type(exc).__name__}: {first}"

    # ---------------------------------------------------------------------------------------- answering

    def _generate(self, image: np.ndarray, prompt: str, stop_after_points: bool) -> RawAnswer:
        import torch

        if self._model is None:
            raise ModelUnavailableError(f"model {self.name!r} is not loaded")
        try:
            with torch.inference_mode():
                if self._kind == "molmo2":
                    return self._generate_molmo2(image, prompt, stop_after_points)
                return self._generate_molmo1(image, prompt)
        except (ModelError, ModelUnavailableError):
            raise
        except Exception as exc:
            if is_oom(exc):
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                raise ModelError(f"out of memory while answering on {self._choice.device}: {exc}") from exc
            raise ModelError(f"{self.name!r} failed while answering: {type(exc).__name__}: {exc}") from exc

    def _sync(self) -> None:
        """Wait for queued GPU work, so the timings measure the work and not its launch."""
        import torch

        if self._choice.device.startswith("cuda"):
            torch.cuda.synchronize(self._choice.device)

    def _generate_molmo2(self, image: np.ndarray, prompt: str, stop_after_points: bool) -> RawAnswer:
        import torch
        from PIL import Image

        start = time.perf_counter()
        picture = resize_once(
            self._processor.image_processor, np.ascontiguousarray(image)
        )  # same pixels, faster
        inputs = molmo2_inputs(self._processor, Image.fromarray(picture), prompt)
        # Floating tensors (pixels) take the model's dtype; index tensors keep theirs.
        inputs = inputs.to(device=self._choice.device, dtype=self._model.dtype)
        self._sync()
        preprocess_ms = (time.perf_counter() - start) * 1000.0

        start = time.perf_counter()
        prompt_len = int(inputs["input_ids"].shape[1])
        if stop_after_points and self._points_end is None:
            from molmo_ros.models.stopping import stop_after_points_criteria

            self._points_end = stop_after_points_criteria(self._processor.tokenizer)  # once per tokenizer
        from molmo_ros.models import lookup_decoding as lookup

        if lookup.plain_greedy(self._model.generation_config):  # the same tokens as generate, fewer passes
            stops = lookup.eos_ids(self._model.generation_config)
            if stop_after_points:
                stops |= self._points_end[0].token_ids
            tokenizer = self._processor.tokenizer
            new, _ = lookup.greedy_answer(self._model, inputs, tokenizer, prompt, self.max_new_tokens, stops)
            output = torch.cat([inputs["input_ids"], inputs["input_ids"].new_tensor([new])], dim=1)
        else:
            stop = {"stopping_criteria": self._points_end} if stop_after_points else {}
            output = self._model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                **stop,
            )
        return self._answer(output, prompt_len, self._processor.decode, preprocess_ms, start)

    def _generate_molmo1(self, image: np.ndarray, prompt: str) -> RawAnswer:
        import torch
        from PIL import Image
        from transformers import GenerationConfig

        start = time.perf_counter()
        processed = self._processor.process(
            images=[Image.fromarray(np.ascontiguousarray(image))], text=prompt
        )
        inputs = {k: v.to(self._choice.device).unsqueeze(0) for k, v in processed.items()}
        if "images" in inputs:
            inputs["images"] = inputs["images"].to(self._model.dtype)
        self._sync()
        preprocess_ms = (time.perf_counter() - start) * 1000.0

        start = time.perf_counter()
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens, do_sample=False, stop_strings="<|endoftext|>"
        )
        device_type = "cuda" if self._choice.device.startswith("cuda") else "cpu"
        use_autocast = device_type == "cuda" and self._model.dtype != torch.float32
        with torch.autocast(device_type=device_type, dtype=self._model.dtype, enabled=use_autocast):
            output = self._model.generate_from_batch(inputs, config, tokenizer=self._processor.tokenizer)
        prompt_len = int(inputs["input_ids"].shape[1])
        return self._answer(output, prompt_len, self._processor.tokenizer.decode, preprocess_ms, start)

    def _answer(
        self, output: Any, prompt_len: int, decode: Any, preprocess_ms: float, start: float
    ) -> RawAnswer:
        """The new tokens of `output` (batch of one) decoded, with the time since `start` as the model's."""
        new_tokens = output[0, prompt_len:]
        text = decode(new_tokens, skip_special_tokens=True)
        self._sync()
        return RawAnswer(
            text=text.strip(),
            preprocess_ms=preprocess_ms,
            model_ms=(time.perf_counter() - start) * 1000.0,
            meta={"prompt_tokens": prompt_len, "new_tokens": int(new_tokens.shape[0])},
        )

    # ---------------------------------------------------------------------------------------- lifecycle

    def _free(self) -> None:
        import torch

        self._model = None
        self._processor = None
        self._points_end = None
        gc.collect()
        if self._choice.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _release(self) -> None:
        self._free()

    @property
    def model(self) -> Any:
        """The loaded transformers model (None once closed); for training and tests."""
        return self._model

    @property
    def processor(self) -> Any:
        """The loaded processor (None once closed)."""
        return self._processor

    def describe(self) -> dict[str, Any]:
        """Backend, model, family, device, dtype, attention implementation, parameter count."""
        params = sum(p.numel() for p in self._model.parameters()) if self._model is not None else None
        return {
            "backend": self.backend,
            "model": self.name,
            "family": self._kind,
            "device": self._choice.device,
            "dtype": self._choice.dtype,
            "attn_implementation": self._attn,
            "trust_remote_code": self._trust_remote_code,
            "max_new_tokens": self.max_new_tokens,
            "cpu_threads": _torch_threads(),
            "num_parameters": params,
            "closed": self.closed,
        }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
