"""`python -m local.stack` as a child process, as a person runs it: started with an environment, ready when it
prints `READY <url>`, stopped with SIGTERM. Used by the end-to-end tests and the HTTP bench."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

import psutil

from local.functions import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StackProcess:
    def __init__(self, env: Mapping[str, str], *, ready_timeout: float = 90, echo: bool = False):
        """`env` is the child's whole environment but PORT and MOTO_PORT (free ports unless given). `echo` copies
        the stack's output to ours as it comes."""
        self.port = int(env.get("PORT") or free_port())
        moto_port = int(env.get("MOTO_PORT") or free_port())
        while moto_port == self.port:  # both picked while neither is bound: the kernel may hand out one twice
            moto_port = free_port()
        full = {**env, "PORT": str(self.port), "MOTO_PORT": str(moto_port), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=full,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert self.process.stdout
            for line in self.process.stdout:
                self.output.append(line)
                lines.put(line)
                if echo:
                    print("  | " + line, end="", flush=True)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith("READY "):
                self.base = line.split()[1]
                return
        self.stop()
        raise RuntimeError("local stack did not become ready:\n" + "".join(self.output))

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and the exit code; a stack that ignores it is killed and this raises."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RuntimeError("local stack ignored SIGTERM:\n" + "".join(self.output)) from None


def eventually(probe, what: str = "a condition", timeout: float = 60.0, interval: float = 0.1):
    """Poll until probe() is truthy and return its value; no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")
