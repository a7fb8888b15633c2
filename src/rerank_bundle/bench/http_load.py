"""Load a running rerank-bundle server over loopback at a fixed concurrency."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .systems import Timing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_subprocess(
    cmd: Sequence[str], *, port: int, log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
    timeout: float = 120.0,
) -> Iterator[subprocess.Popen]:
    """Run a server command, wait until GET /health on `port` answers 200, and stop it on exit
    (terminate, then kill). Output goes to `log_path`, whose tail is in any start-up error."""
    import httpx

    url = f"http://127.0.0.1:{port}/health"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
                try:
                    if httpx.get(url, timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server not healthy after {timeout:.0f}s:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.3)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextmanager
def running_server(model_dir: Path, *, engine: str, precision: str, timeout: float = 300.0) -> Iterator[str]:
    """`rerank-bundle serve` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "rerank_bundle.cli", "serve", "--model", str(model_dir), "--engine", engine,
           "--precision", precision, "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryDirectory() as tmp:
        with serve_subprocess(cmd, port=port, log_path=Path(tmp) / "server.log", env=os.environ.copy(), timeout=timeout):
            yield f"http://127.0.0.1:{port}"


async def _load(url: str, query: str, documents: Sequence[str], *, concurrency: int, requests: int) -> tuple[Timing, float]:
    import httpx

    timing = Timing()
    body = {"query": query, "texts": list(documents)}
    remaining = requests

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            response = await client.post(f"{url}/rerank", json=body)
            response.raise_for_status()
            timing.latencies.append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=300.0, limits=limits) as client:
        await client.post(f"{url}/rerank", json=body)  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return timing, wall


def http_load(url: str, query: str, documents: Sequence[str], *, concurrency: int, requests: int) -> tuple[Timing, float]:
    """Send `requests` /rerank calls with `concurrency` in flight; returns latencies and wall time."""
    return asyncio.run(_load(url, query, documents, concurrency=concurrency, requests=requests))
