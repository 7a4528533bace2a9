"""The small interface every model backend implements: an RGB image and a prompt in, text and pixel points out.

The backend receives the *full prompt text* (``"Point to the red cup.\\nPlease say 'There are none.' if it is
not in the image."``), built by the caller with :func:`molmo_ros.pointing.point_prompt` or
:func:`~molmo_ros.pointing.count_prompt`; it never rewrites it. That keeps one place (the prompt builders)
deciding the wording, and lets a caller ask a free-form question through the same backend.

Errors (all :class:`molmo_ros.errors.MolmoRosError`, each with its ``code``):

* :class:`~molmo_ros.errors.InvalidRequestError`: the image is not ``(H, W, 3)`` ``uint8`` or the prompt is
  empty / not text;
* :class:`~molmo_ros.errors.ModelUnavailableError`: the backend is closed, failed to load, or its server is
  unreachable;
* :class:`~molmo_ros.errors.ModelTimeoutError`: the answer did not come in time (HTTP backend);
* :class:`~molmo_ros.errors.ModelError`: anything that went wrong while the model answered;
* :class:`~molmo_ros.errors.PointParseError` / :class:`~molmo_ros.errors.PointOutsideImageError`: from
  :meth:`PointModel.point` only, raised *unchanged* from :func:`molmo_ros.pointing.parse_points` (so their
  codes, PARSE_ERROR and POINT_OUTSIDE_IMAGE, reach the client). The model's raw text and the timings are
  attached with :meth:`BaseException.add_note` and as the attribute ``model_output`` (a :class:`RawAnswer`).
  Callers that want the text whatever happens call :meth:`PointModel.generate` and parse themselves.
"""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo_ros.errors import InvalidRequestError, ModelUnavailableError, PointParseError
from molmo_ros.pointing import PixelPoint, PointAnswer, parse_points

__all__ = ["ModelAnswer", "PointModel", "RawAnswer", "check_image", "check_prompt"]


@dataclass(frozen=True)
class RawAnswer:
    """The model's text for one image and prompt, before parsing.

    Attributes:
        text: the generated answer only (prompt and special tokens removed).
        preprocess_ms: image and prompt to model inputs (processor, encoding, device transfer), milliseconds.
        model_ms: the model answering (``generate`` plus decoding, or the HTTP round trip with retries), ms.
        meta: backend details worth logging (token counts, HTTP attempts ...), JSON-friendly values.
    """

    text: str
    preprocess_ms: float
    model_ms: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelAnswer:
    """A model's answer about one image: raw text, the pixel points in it, and where the time went.

    Attributes:
        text: the model's raw answer.
        points: the points in pixels of the queried image (x: column, y: row, continuous, origin at the
            top-left corner), in the order the text gives them.
        parsed: the full parse (``absent``, ``stated_count`` ...) from :func:`molmo_ros.pointing.parse_points`.
        width: width of the queried image, pixels.
        height: height of the queried image, pixels.
        preprocess_ms: image and prompt to model inputs, milliseconds.
        model_ms: generation (or the HTTP round trip), milliseconds.
        parse_ms: text to points, milliseconds.
        total_ms: the whole :meth:`PointModel.point` call, milliseconds (at least the sum of the three).
        meta: backend details (see :class:`RawAnswer`).
    """

    text: str
    points: tuple[PixelPoint, ...]
    parsed: PointAnswer
    width: int
    height: int
    preprocess_ms: float
    model_ms: float
    parse_ms: float
    total_ms: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def absent(self) -> bool:
        """True when the model said the object is not in the image."""
        return self.parsed.absent


def check_image(image: object) -> np.ndarray:
    """Return ``image`` if it is an RGB picture the backends accept, else raise InvalidRequestError.

    Accepted: a ``numpy.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, ``H, W >= 1`` (RGB channel order).
    """
    if not isinstance(image, np.ndarray):
        raise InvalidRequestError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidRequestError(f"image must have shape (H, W, 3) (RGB), got {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidRequestError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidRequestError(f"image is empty: shape {image.shape}")
    return image


def check_prompt(prompt: object) -> str:
    """Return ``prompt`` if it is non-empty text, else raise InvalidRequestError."""
    if not isinstance(prompt, str):
        raise InvalidRequestError(f"prompt must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidRequestError("prompt is empty")
    return prompt


def _ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - start) * 1000.0


class PointModel(abc.ABC):
    """A Molmo model behind one small interface (plain Python, no ROS).

    Subclasses implement :meth:`_generate`, :meth:`_release` and :meth:`describe`. This base class validates
    inputs, serialises calls (one answer at a time: a model's generation state is not thread-safe, and the
    node wants one query on the model at a time anyway), parses the answer and measures time.
    """

    #: Backend name, e.g. ``"transformers"`` or ``"openai"``.
    backend: str = ""

    def __init__(self, name: str, max_new_tokens: int) -> None:
        """
        Args:
            name: the model's name for logs (hub id, directory or served model name).
            max_new_tokens: the most tokens an answer may have (bounds the generation time).
        """
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            # A setting, like device or dtype: the model cannot be set up with it.
            raise ModelUnavailableError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        self._name = name
        self.max_new_tokens = max_new_tokens
        self._lock = threading.Lock()
        self._closed = False

    @property
    def name(self) -> str:
        """The model's name (hub id, directory or served model name)."""
        return self._name

    @property
    def closed(self) -> bool:
        """True after :meth:`close`: the model's memory is freed and every call raises."""
        return self._closed

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What is loaded, for logs and the node's status: backend, model, device, dtype ... (JSON-friendly)."""

    @abc.abstractmethod
    def _generate(self, image: np.ndarray, prompt: str, stop_after_points: bool) -> RawAnswer:
        """Answer ``prompt`` about ``image`` (already checked); raise the library's errors on failure.
        ``stop_after_points``: see :meth:`generate` (a backend that cannot stop early ignores it)."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Free the model's memory (called once, by :meth:`close`)."""

    def generate(self, image: np.ndarray, prompt: str, *, stop_after_points: bool = False) -> RawAnswer:
        """The model's text for ``prompt`` about ``image``, without parsing.

        Args:
            image: ``(H, W, 3)`` ``uint8`` RGB picture.
            prompt: the full prompt text (see the module docstring).
            stop_after_points: end the answer where its point tag's opening closes (``">``): the coordinates
                are all written, the rest of a point answer repeats the alt text (:mod:`molmo_ros.models.stopping`).
                The text then ends with an unclosed tag, which the parser reads. Not for counting: a counting
                answer states its total after the tag. The transformers backend stops (Molmo2 checkpoints);
                the openai backend's server writes the whole answer.

        Raises:
            InvalidRequestError, ModelUnavailableError, ModelTimeoutError, ModelError (see the module docstring).
        """
        image = check_image(image)
        prompt = check_prompt(prompt)
        with self._lock:
            if self._closed:
                raise ModelUnavailableError(f"model {self._name!r} is closed (unloaded); load it again")
            return self._generate(image, prompt, stop_after_points)

    def point(self, image: np.ndarray, prompt: str) -> ModelAnswer:
        """Answer ``prompt`` about ``image`` and read the pixel points in the answer.

        Args:
            image: ``(H, W, 3)`` ``uint8`` RGB picture; points come back in its pixel coordinates.
            prompt: the full prompt text, e.g. ``point_prompt("the red cup")``.

        Returns:
            A :class:`ModelAnswer`.

        Raises:
            Everything :meth:`generate` raises, and the parser's PointParseError / PointOutsideImageError
            unchanged (with the raw answer attached, see the module docstring).
        """
        start = time.perf_counter()
        raw = self.generate(image, prompt)
        height, width = image.shape[:2]
        parse_start = time.perf_counter()
        try:
            parsed = parse_points(raw.text, width, height)
        except PointParseError as exc:
            exc.add_note(f"model answer: {raw.text!r}")
            exc.model_output = raw  # type: ignore[attr-defined]  # for callers that report the raw text
            raise
        parse_ms = _ms(parse_start)
        return ModelAnswer(
            text=raw.text,
            points=parsed.points,
            parsed=parsed,
            width=width,
            height=height,
            preprocess_ms=raw.preprocess_ms,
            model_ms=raw.model_ms,
            parse_ms=parse_ms,
            total_ms=_ms(start),
            meta=raw.meta,
        )

    def close(self) -> None:
        """Free the model's memory (lifecycle deactivate). Safe to call twice; later calls to
        :meth:`point` raise ModelUnavailableError. Waits for an answer in progress to finish."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()

    unload = close

    def __enter__(self) -> PointModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"{type(self).__name__}(name={self._name!r}, {state})"
