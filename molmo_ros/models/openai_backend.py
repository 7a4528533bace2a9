"""HTTP backend: a Molmo model behind an OpenAI-compatible chat-completions server, as vLLM serves it::

    vllm serve allenai/Molmo2-8B --trust-remote-code     # http://127.0.0.1:8000/v1

One request per query, sent with the ``openai`` client: ``POST {base_url}/chat/completions`` with the picture as
a base64 PNG data URL and the prompt as text in one user message, ``temperature`` 0 (greedy) and ``max_tokens``
bounded. Retries are ``tenacity``'s, not the client's own, because a timeout must not be retried (a slow model
only gets slower) and the client retries timeouts.

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
import io
import ipaddress
import json
import logging
import os
import time
import urllib.parse
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
        self._client = _client(
            self.base_url, self.timeout_s, trust_env=not _is_loopback(parsed.hostname or "")
        )

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

    def _messages(self, image_url: str, prompt: str) -> list[dict[str, Any]]:
        content = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": prompt}]
        return [{"role": "user", "content": content}]

    def _attempt(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """One POST; returns the decoded JSON or raises _Retryable / a final library error."""
        import openai

        # The key is read at each request; without one the request carries no Authorization header.
        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}" if key else openai.omit}
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.name,
                messages=messages,
                temperature=0,
                max_tokens=self.max_new_tokens,
                extra_headers=headers,
            )
        except openai.APITimeoutError as exc:
            raise ModelTimeoutError(f"{self.url} did not answer within {self.timeout_s:g} s") from exc
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise _Retryable(ModelUnavailableError(f"cannot reach {self.url}: {cause}")) from None
        except openai.APIStatusError as exc:
            status, response = exc.status_code, exc.response
            detail = self._scrub(response.text[:_BODY_EXCERPT])
            message = f"{self.url} answered HTTP {status} {response.reason_phrase}: {detail}".rstrip(": ")
            if status not in _RETRY_STATUS:
                raise ModelError(message) from None
            if status == 429:
                final: Exception = ModelUnavailableError(message, code=ErrorCode.BUSY)
            elif status in _UNAVAILABLE_STATUS:
                final = ModelUnavailableError(message)
            else:
                final = ModelError(message)
            raise _Retryable(final, _retry_after(response.headers.get("Retry-After"))) from None
        body = raw.http_response.content
        try:
            data = json.loads(body)
        except ValueError:
            excerpt = self._scrub(body[:_BODY_EXCERPT].decode("utf-8", "replace"))
            raise ModelError(
                f"{self.url} answered HTTP {raw.http_response.status_code} with a body that is not JSON: "
                f"{excerpt!r}"
            ) from None
        if not isinstance(data, dict):
            raise ModelError(f"{self.url} answered with JSON that is not an object")
        return data

    def _wait_s(self, state: Any) -> float:
        """Exponential backoff from backoff_s, capped; a longer Retry-After (up to the cap) wins."""
        wait = min(self.backoff_s * (2 ** (state.attempt_number - 1)), self.max_backoff_s)
        failure = state.outcome.exception()
        if isinstance(failure, _Retryable) and failure.retry_after_s is not None:
            wait = min(max(wait, failure.retry_after_s), self.max_backoff_s)
        return wait

    def _post(self, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """POST with retries; returns the JSON and the number of attempts made."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        attempts = 1 + self.max_retries

        def log(state: Any) -> None:
            logger.warning(
                "attempt %d/%d failed (%s); retrying in %.2f s",
                state.attempt_number, attempts, state.outcome.exception().final, state.next_action.sleep,
            )  # fmt: skip

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait_s,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=log,
            reraise=True,
        )
        try:
            data = retrying(self._attempt, messages)
        except _Retryable as failure:
            failure.final.add_note(f"gave up after {attempts} attempt(s)")
            raise failure.final from None
        return data, int(retrying.statistics["attempt_number"])

    def _generate(self, image: np.ndarray, prompt: str, stop_after_points: bool) -> RawAnswer:
        # stop_after_points is ignored: a "stop" sequence would be cut from the server's text, leaving the
        # tag unterminated, and the answer's last tokens cost little next to the HTTP round trip.
        start = time.perf_counter()
        messages = self._messages(self._encode_image(image), prompt)
        preprocess_ms = (time.perf_counter() - start) * 1000.0

        start = time.perf_counter()
        data, attempts = self._post(messages)
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
        """Close the client's connection pool."""
        self._client.close()

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


def _client(base_url: str, timeout_s: float, trust_env: bool) -> Any:
    """An openai client without its own retries or key (each request brings its Authorization header); a
    server on this machine is never reached through a proxy from the environment (trust_env False)."""
    import openai

    http_client = openai.DefaultHttpxClient(trust_env=trust_env)
    return openai.OpenAI(
        base_url=base_url, api_key=lambda: "", timeout=timeout_s, max_retries=0, http_client=http_client
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
