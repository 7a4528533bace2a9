"""A real OpenAI-compatible model server for tests: ``transformers serve`` (transformers' own FastAPI server)
in a subprocess on a loopback port, serving a local checkpoint, and the faults a test gives it (killed,
restarted, hung with SIGSTOP)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TransformersServer:
    """``transformers serve CHECKPOINT --host 127.0.0.1 --port PORT --device cpu`` (the checkpoint preloaded:
    every request is answered by it). `log` collects the server's output."""

    def __init__(self, checkpoint: Path, log: Path, port: int | None = None) -> None:
        self.checkpoint = Path(checkpoint)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = Path(log)
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120.0) -> float:
        """Start the server and wait until /health answers; returns the seconds that took."""
        began = time.monotonic()
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(self.log.parent / "hf_cache"))
        code = "import sys; from transformers.cli.transformers import main; sys.exit(main())"
        command = [sys.executable, "-c", code, "serve", str(self.checkpoint), "--host", "127.0.0.1",
                   "--port", str(self.port), "--device", "cpu", "--dtype", "float32"]  # fmt: skip
        with self.log.open("a") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = began + timeout_s
        while not self.healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({self.process.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"transformers serve not up in {timeout_s:g} s: {self.tail()}")
            time.sleep(0.2)
        return time.monotonic() - began

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1.0) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash: no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: the server holds its socket but answers nothing (a hung server)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text()[-n:] if self.log.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
