"""The OpenAI-compatible HTTP backend against a real HTTP server on 127.0.0.1, started by each test."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from molmo_ros.errors import ErrorCode, ModelError, ModelTimeoutError, ModelUnavailableError
from molmo_ros.models import load_point_model
from molmo_ros.models.openai_backend import OpenAIPointModel

ANSWER = '<points alt="red cup" coords="1 1 500 250">red cup</points>'
SECRET = "sk-molmo-test-7f3a9c"  # a fake key, only ever sent to the loopback server


def completion(text: str) -> dict:
    """A chat-completion body as vLLM returns it."""
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "allenai/Molmo2-8B",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 812, "completion_tokens": 21, "total_tokens": 833},
    }


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Server:
    """A loopback HTTP server answering POSTs with scripted replies (the last one repeats)."""

    replies: list[Reply]
    requests: list[dict] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def server() -> Iterator[Callable[..., Server]]:
    started: list[ThreadingHTTPServer] = []

    def start(*replies: Reply) -> Server:
        state = Server(list(replies))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                state.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},  # names: any case
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                index = min(len(state.requests), len(state.replies)) - 1
                reply = state.replies[index]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body if reply.body is not None else completion(ANSWER)
                if callable(body):
                    body = body(self)
                payload = json.dumps(body).encode() if isinstance(body, dict) else body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        state.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(httpd)
        return state

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)


def client(srv: Server, **kwargs: object) -> OpenAIPointModel:
    options: dict = {
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "timeout_s": 5.0,
        "api_key_env": "MOLMO_ROS_TEST_KEY",
    }
    options.update(kwargs)
    return OpenAIPointModel("allenai/Molmo2-8B", base_url=srv.base_url, **options)


def test_answer_is_parsed_and_the_request_is_a_standard_chat_completion(server, image) -> None:
    srv = server(Reply())
    answer = client(srv, max_new_tokens=33).point(image, "Point to the red cup.")
    assert answer.text == ANSWER
    assert [(p.x, p.y, p.label) for p in answer.points] == [(320.0, 120.0, "red cup")]
    assert answer.meta == {"attempts": 1, "prompt_tokens": 812, "new_tokens": 21}
    assert answer.preprocess_ms > 0 and answer.model_ms > 0 and answer.total_ms >= answer.model_ms

    (request,) = srv.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert body["model"] == "allenai/Molmo2-8B"
    assert body["temperature"] == 0 and body["max_tokens"] == 33
    (message,) = body["messages"]
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert text_part == {"type": "text", "text": "Point to the red cup."}
    assert image_part["type"] == "image_url"
    prefix, data = image_part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    np.testing.assert_array_equal(sent, image)  # PNG: the server sees exactly our pixels


def test_transient_503s_are_retried_until_success(server, image) -> None:
    srv = server(Reply(503, {"error": "loading"}), Reply(503, {"error": "loading"}), Reply())
    answer = client(srv, max_retries=3).point(image, "Point to the red cup.")
    assert len(srv.requests) == 3
    assert answer.meta["attempts"] == 3 and answer.text == ANSWER


def test_retries_are_bounded_then_the_server_is_unavailable(server, image) -> None:
    srv = server(Reply(503, {"error": "overloaded"}))
    with pytest.raises(ModelUnavailableError, match="HTTP 503") as caught:
        client(srv, max_retries=2).point(image, "Point to the red cup.")
    assert len(srv.requests) == 3
    assert any("3 attempt" in note for note in caught.value.__notes__)


def test_backoff_grows_and_retry_after_is_honoured(server, image) -> None:
    srv = server(Reply(429, {"error": "busy"}, {"Retry-After": "0.3"}), Reply())
    start = time.perf_counter()
    answer = client(srv, max_retries=1, backoff_s=0.01, max_backoff_s=1.0).point(image, "x")
    assert time.perf_counter() - start >= 0.3
    assert answer.meta["attempts"] == 2


def test_429_to_the_end_is_busy(server, image) -> None:
    srv = server(Reply(429, {"error": "rate limited"}))
    with pytest.raises(ModelUnavailableError) as caught:
        client(srv, max_retries=1).point(image, "x")
    assert caught.value.code == ErrorCode.BUSY and len(srv.requests) == 2


def test_500_to_the_end_is_a_model_error(server, image) -> None:
    srv = server(Reply(500, {"error": "CUDA error"}))
    with pytest.raises(ModelError, match=r"HTTP 500.*CUDA error"):
        client(srv, max_retries=1).point(image, "x")
    assert len(srv.requests) == 2


def test_4xx_is_not_retried(server, image) -> None:
    srv = server(Reply(400, {"error": {"message": "max_tokens is too large"}}))
    with pytest.raises(ModelError, match=r"HTTP 400.*max_tokens is too large") as caught:
        client(srv, max_retries=3).point(image, "x")
    assert caught.value.code == ErrorCode.MODEL_ERROR
    assert len(srv.requests) == 1


def test_timeout(server, image) -> None:
    srv = server(Reply(delay_s=1.5))
    start = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match=r"within 0.3 s") as caught:
        client(srv, timeout_s=0.3, max_retries=3).point(image, "x")
    assert caught.value.code == ErrorCode.TIMEOUT
    assert time.perf_counter() - start < 1.2  # not retried: a slow model only gets slower
    assert len(srv.requests) == 1


def test_connection_refused_is_unavailable_after_retries(image) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAIPointModel("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_s=0.01)
    with pytest.raises(ModelUnavailableError, match="cannot reach") as caught:
        model.point(image, "x")
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE
    assert any("3 attempt" in note for note in caught.value.__notes__)


def test_body_that_is_not_json(server, image) -> None:
    srv = server(Reply(200, b"<html>gateway</html>"))
    with pytest.raises(ModelError, match="not JSON"):
        client(srv).point(image, "x")


def test_json_without_an_answer(server, image) -> None:
    srv = server(Reply(200, {"object": "error", "message": "?"}))
    with pytest.raises(ModelError, match=r"choices\[0\]"):
        client(srv).point(image, "x")


def test_api_key_is_sent_but_never_logged_or_shown(server, image, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MOLMO_ROS_TEST_KEY", SECRET)

    def echo_headers(handler: BaseHTTPRequestHandler) -> dict:
        return {"error": "bad request", "you sent": handler.headers["Authorization"]}  # a careless server

    srv = server(Reply(503, {"error": "warming up"}), Reply(400, echo_headers))
    model = client(srv, max_retries=2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelError) as caught:
        model.point(image, "x")
    assert [r["headers"]["authorization"] for r in srv.requests] == [f"Bearer {SECRET}"] * 2
    assert "retrying" in caplog.text  # the retry was logged ...
    assert SECRET not in caplog.text  # ... without the key
    notes = getattr(caught.value, "__notes__", [])
    shown = [str(caught.value), *notes, repr(caught.value), repr(model), json.dumps(model.describe())]
    assert "Bearer ***" in str(caught.value)  # the echoed header is quoted ...
    assert all(SECRET not in text for text in shown)  # ... scrubbed of the key
    assert model.describe()["api_key_set"] is True


def test_no_key_no_authorization_header(server, image, monkeypatch) -> None:
    monkeypatch.delenv("MOLMO_ROS_TEST_KEY", raising=False)
    srv = server(Reply())
    client(srv).point(image, "x")
    assert "authorization" not in srv.requests[0]["headers"]


def test_settings_are_checked_and_the_factory_builds_it(server) -> None:
    with pytest.raises(ModelUnavailableError, match="http"):
        OpenAIPointModel("m", base_url="ftp://host/v1")
    with pytest.raises(ModelUnavailableError, match="credentials"):
        OpenAIPointModel("m", base_url="http://user:pw@host/v1")
    with pytest.raises(ModelUnavailableError, match="served model's name"):
        load_point_model("openai", "default")
    srv = server(Reply())
    model = load_point_model(
        "vllm", "allenai/Molmo2-8B", base_url=srv.base_url, timeout_s=2.0, max_new_tokens=9
    )
    assert isinstance(model, OpenAIPointModel) and model.url == f"{srv.base_url}/chat/completions"
    model.close()
    with pytest.raises(ModelUnavailableError, match="closed"):
        model.point(np.zeros((4, 4, 3), np.uint8), "x")
