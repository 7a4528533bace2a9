"""HTTP backend: a Molmo model behind an OpenAI-compatible chat-completions server, as vLLM serves it::

    vllm serve allenai/Molmo2-8B --trust-remote-code     # http://127.0.0.1:8000/v1

One request per query: ``POST {base_url}/chat/completions`` with the picture as a base64 PNG data URL and the
prompt as text in one user message, ``temperature`` 0 (greedy) and ``max_tokens`` bounded. Standard library
only (``urllib.request``), so the backend adds no dependency.

Failures: connection errors, HTTP 429 and 5xx are retried a bounded number of times with exponential backoff
(``Retry-After`` is honoured up to the backoff cap); other 4xx are not. After the last attempt: unreachable
server -> ModelUnavailableError; 429 -> ModelUnavailableError with code BUSY; 502/503/504 ->
ModelUnavailableError; other 5xx and 4xx -> ModelError with the status; a timeout (per attempt, never retried:
a slow model would only get slower) -> ModelTimeoutError; a body that is not the expected JSON -> ModelError.

The API key is read from an environment variable whose *name* is configurable (default ``OPENAI_API_KEY``), at
each request, and sent as ``Authorization: Bearer``. It never appears in logs, exception messages or ``repr``:
server text quoted in messages is scrubbed of it.
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from molmo_ros.errors import ErrorCode, ModelError, ModelTimeoutError, ModelUnavailableError
from molmo_ros.models.base import PointModel, RawAnswer

__all__ = ["DEFAULT_BASE_URL", "OpenAIPointModel"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_UNAVAILABLE_STATUS = frozenset({502, 503, 504})
_BODY_EXCERPT = 300  # characters of a server's error body quoted in messages


class _Retryable(Exception):
    """One failed attempt that may succeed if repeated; ``final`` is the error to raise if none is left."""

    def __init__(self, final: Exception, retry_after_s: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after_s = retry_after_s


class OpenAIPointModel(PointModel):
    """A model served over HTTP by an OpenAI-compatible server (vLLM, SGLang ...)."""

    backend = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_new_tokens: int = 64,
        image_format: str = "png",
    ) -> None:
        """
        Args:
            model: the served model's name (``allenai/Molmo2-8B``), sent as the request's ``model``.
            base_url: the API root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
            api_key_env: NAME of the environment variable holding the API key (unset or empty: no key sent).
            timeout_s: limit for one attempt (connect + answer), seconds.
            max_retries: further attempts after the first on connection errors, 429 and 5xx.
            backoff_s: wait before the first retry, seconds; doubles each retry, capped at ``max_backoff_s``.
            max_backoff_s: longest wait between attempts, seconds (also caps ``Retry-After``).
            max_new_tokens: ``max_tokens`` of the request.
            image_format: ``"png"`` (lossless, default) or ``"jpeg"`` (smaller, lossy).

        Raises:
            ModelUnavailableError: an unusable setting (URL scheme, negative times, unknown image format).
        """
        super().__init__(model, max_new_tokens)
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelUnavailableError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}"
            )
        if parsed.username or parsed.password:
            # Credentials in the URL would end up in logs and messages; the key belongs in api_key_env.
            raise ModelUnavailableError("base_url must not contain credentials; put the key in api_key_env")
        if timeout_s <= 0 or max_retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ModelUnavailableError(
                "timeout_s must be > 0 and max_retries, backoff_s, max_backoff_s >= 0"
            )
        if image_format not in ("png", "jpeg"):
            raise ModelUnavailableError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
        if not api_key_env or not isinstance(api_key_env, str):
            raise ModelUnavailableError("api_key_env must name an environment variable")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.image_format = image_format
        # A server on this machine is never reached through an HTTP proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(parsed.hostname or "") else []
        self._opener = urllib.request.build_opener(*handlers)

    # --------------------------------------------------------------------------------------- the request

    def _api_key(self) -> str:
        return os.environ.get(self.api_key_env, "")

    def _scrub(self, text: str) -> str:
        """``text`` without the API key (a server might echo request headers in an error page)."""
        key = self._api_key()
        return text.replace(key, "***") if key else text

    def _encode_image(self, image: np.ndarray) -> str:
        from PIL import Image

        buffer = io.BytesIO()
        pil = Image.fromarray(np.ascontiguousarray(image))
        if self.image_format == "png":
            pil.save(buffer, format="PNG", compress_level=1)  # fast; the size hardly matters on a LAN
            mime = "image/png"
        else:
            pil.save(buffer, format="JPEG", quality=95)
            mime = "image/jpeg"
        return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"

    def _body(self, image_url: str, prompt: str) -> bytes:
        return json.dumps(
            {
                "model": self.name,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": image_url}},
                            {"type": "text", "text": prompt},
                        ],
                    }
                ],
                "temperature": 0,
                "max_tokens": self.max_new_tokens,
            }
        ).encode("utf-8")

    def _attempt(self, body: bytes) -> dict[str, Any]:
        """One POST; returns the decoded JSON or raises _Retryable / a final library error."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status = response.status
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = self._scrub(exc.read().decode("utf-8", "replace")[:_BODY_EXCERPT]) if exc.fp else ""
            message = f"{self.url} answered HTTP {exc.code} {exc.reason}: {detail}".rstrip(": ")
            if exc.code in _RETRY_STATUS:
                if exc.code == 429:
                    final: Exception = ModelUnavailableError(message, code=ErrorCode.BUSY)
                elif exc.code in _UNAVAILABLE_STATUS:
                    final = ModelUnavailableError(message)
                else:
                    final = ModelError(message)
                raise _Retryable(final, _retry_after(exc.headers.get("Retry-After"))) from None
            raise ModelError(message) from None
        except TimeoutError as exc:  # socket.timeout is TimeoutError
            raise ModelTimeoutError(f"{self.url} did not answer within {self.timeout_s:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ModelTimeoutError(f"{self.url} did not answer within {self.timeout_s:g} s") from None
            raise _Retryable(ModelUnavailableError(f"cannot reach {self.url}: {exc.reason}")) from None
        except (ConnectionError, http.client.HTTPException) as exc:
            # The server closed the connection or sent garbage mid-answer (restarting, crashed worker).
            raise _Retryable(ModelUnavailableError(f"connection to {self.url} failed: {exc!r}")) from None

        try:
            data = json.loads(raw)
        except ValueError:
            excerpt = self._scrub(raw[:_BODY_EXCERPT].decode("utf-8", "replace"))
            raise ModelError(
                f"{self.url} answered HTTP {status} with a body that is not JSON: {excerpt!r}"
            ) from None
        if not isinstance(data, dict):
            raise ModelError(f"{self.url} answered HTTP {status} with JSON that is not an object")
        return data

    def _post(self, body: bytes) -> tuple[dict[str, Any], int]:
        """POST with retries; returns the JSON and the number of attempts made."""
        attempts = 1 + self.max_retries
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(body), attempt
            except _Retryable as failure:
                if attempt == attempts:
                    failure.final.add_note(f"gave up after {attempts} attempt(s)")
                    raise failure.final from None
                wait = min(self.backoff_s * (2 ** (attempt - 1)), self.max_backoff_s)
                if failure.retry_after_s is not None:
                    wait = min(max(wait, failure.retry_after_s), self.max_backoff_s)
                logger.warning(
                    "attempt %d/%d failed (%s); retrying in %.2f s", attempt, attempts, failure.final, wait
                )
                time.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _generate(self, image: np.ndarray, prompt: str) -> RawAnswer:
        start = time.perf_counter()
        body = self._body(self._encode_image(image), prompt)
        preprocess_ms = (time.perf_counter() - start) * 1000.0

        start = time.perf_counter()
        data, attempts = self._post(body)
        model_ms = (time.perf_counter() - start) * 1000.0
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            excerpt = self._scrub(json.dumps(data)[:_BODY_EXCERPT])
            raise ModelError(f"{self.url} answered without choices[0].message.content: {excerpt}") from None
        if isinstance(content, list):
            # Some servers return content parts; the text parts make the answer.
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise ModelError(f"{self.url} answered with non-text content of type {type(content).__name__}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return RawAnswer(
            text=content.strip(),
            preprocess_ms=preprocess_ms,
            model_ms=model_ms,
            meta={
                "attempts": attempts,
                "prompt_tokens": usage.get("prompt_tokens"),
                "new_tokens": usage.get("completion_tokens"),
            },
        )

    # ---------------------------------------------------------------------------------------- lifecycle

    def _release(self) -> None:
        """Nothing is held between requests (each one opens its own connection)."""

    def describe(self) -> dict[str, Any]:
        """Backend, served model name, URL, limits, and whether a key is set (never the key)."""
        return {
            "backend": self.backend,
            "model": self.name,
            "url": self.url,
            "api_key_env": self.api_key_env,
            "api_key_set": bool(self._api_key()),
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "max_new_tokens": self.max_new_tokens,
            "closed": self.closed,
        }

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"OpenAIPointModel(model={self.name!r}, url={self.url!r}, "
            f"api_key_env={self.api_key_env!r}, {state})"
        )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
