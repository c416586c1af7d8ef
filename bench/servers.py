"""Server processes for a run: daphne (or uvicorn) pinned to one core, the load generator on the
other."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench"

APPS = {
    "parley": ("chatsite.asgi:application", "chatsite.settings"),
    "baseline": ("bench.baseline.asgi:application", "bench.baseline.settings"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children, in KiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVERS = ("daphne", "uvicorn", "hypercorn", "granian")


def server_command(server: str, target: str, port: int) -> list[str]:
    """The command line that serves `target` on 127.0.0.1:`port` with `server`."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), target]
    if server == "uvicorn":
        # As docs/operations.md runs it: the websockets sans-I/O protocol (flow control, so the
        # outbox limit and its 1013 work; less memory and CPU per socket than the legacy
        # `websockets` one, docs/performance.md), no per-message compression (it would deflate
        # every frame once per socket), uvloop + httptools, no access log (it would print
        # ?token=).
        return [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            "websockets-sansio",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "off",
            "--no-access-log",
            "--ws-max-size",
            "1048576",
            "--ws-per-message-deflate",
            "false",
            "--ws-ping-interval",
            "20",
            "--ws-ping-timeout",
            "30",
            # Parley reads X-Forwarded-For itself, from PARLEY_TRUSTED_PROXIES only.
            "--no-proxy-headers",
        ]
    # hypercorn and granian: compared for the choice of server only (docs/performance.md);
    # not in requirements.txt (`pip install hypercorn granian` for those runs).
    if server == "hypercorn":
        return [
            sys.executable,
            "-m",
            "hypercorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "uvloop",
            target,
        ]
    if server == "granian":
        # asginl: ASGI without the lifespan protocol, which Parley does not serve.
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asginl",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--no-log",
            target,
        ]
    raise ValueError(f"unknown server {server!r}")


@contextmanager
def spawn(
    app: str,
    *,
    count: int = 1,
    server_core: str = "0",
    extra_env: dict[str, str] | None = None,
    server: str = "daphne",
):
    """Starts `count` server processes of `app` on free ports; yields [(port, pid)]."""
    target, settings_module = APPS[app]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, **(extra_env or {})}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for index in range(count):
            port = free_port()
            env_one = {**env, "PARLEY_NODE_ID": str(100 + index)}
            log = (LOG_DIR / f"{app}-{server}-{port}.log").open("w")
            command = server_command(server, target, port)
            if server_core:
                command = ["taskset", "-c", server_core, *command]
            processes.append(
                (port, subprocess.Popen(command, cwd=ROOT, env=env_one, stdout=log, stderr=log))
            )
        for port, process in processes:
            _wait_http(f"http://127.0.0.1:{port}/", process)
        yield [(port, process.pid) for port, process in processes]
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {LOG_DIR}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")
