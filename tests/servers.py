"""Real server processes for tests: daphne (or uvicorn) and private redis-servers on free
loopback ports, stopped by the test."""

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bench.servers import server_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback test server)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_process(process: subprocess.Popen, *, timeout: float) -> None:
    """SIGTERM (a server's graceful shutdown), then SIGKILL if it has not exited in `timeout`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def daphne_process(
    env: dict[str, str],
    *,
    port: int | None = None,
    stdout: IO | None = None,
    server: str = "daphne",
    stderr: IO | None = None,
) -> Iterator[tuple[subprocess.Popen, int]]:
    """Runs `daphne chatsite.asgi:application` (or, with server="uvicorn", uvicorn as
    docs/operations.md runs it) on 127.0.0.1 and yields (process, port), so a test can also
    kill it; stopped at the end if still running (its stdout goes to `stdout` when given)."""
    port = port or free_port()
    process = subprocess.Popen(
        server_command(server, "chatsite.asgi:application", port),
        cwd=ROOT,
        env=env,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.PIPE,
    )
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/")
        except OSError:
            process.kill()
            output = process.communicate()[1]
            raise RuntimeError(
                f"{server} did not start: {(output or b'').decode()[-2000:]}"
            ) from None
        yield process, port
    finally:
        stop_process(process, timeout=10)
        if process.stderr:
            process.stderr.close()


@contextlib.contextmanager
def daphne(
    env: dict[str, str], *, port: int | None = None, stdout: IO | None = None
) -> Iterator[int]:
    """Runs `daphne chatsite.asgi:application` on 127.0.0.1 and yields its port."""
    with daphne_process(env, port=port, stdout=stdout) as (_process, bound_port):
        yield bound_port


@contextlib.contextmanager
def uvicorn(
    env: dict[str, str], *, stdout: IO | None = None, stderr: IO | None = None
) -> Iterator[int]:
    """Runs Parley under uvicorn on 127.0.0.1 and yields its port."""
    with daphne_process(env, stdout=stdout, stderr=stderr, server="uvicorn") as (_p, port):
        yield port


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[subprocess.Popen]:
    """A private redis-server on 127.0.0.1:port, stopped at the end (never the shared one)."""
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
