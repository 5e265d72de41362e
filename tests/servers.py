"""Real servers on 127.0.0.1 for the tests: `python -m course_lib serve` in a subprocess, or the API in a thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

from course_lib.runtime.server import LocalAPI, make_server

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a test's or a benchmark's server."""

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve_process(env: dict | None = None, extra_args: tuple[str, ...] = ("--quiet",),
                        timeout_s: float = 300.0):
    """`python -m course_lib serve` in a subprocess on a free port of 127.0.0.1, as a room would run it; returns
    (process, base URL) once /v1/models answers. Used by the tests and the benchmarks that need a real server; stop
    it with `process.terminate()`. Raises RuntimeError, with the server's last output, if it exits or stays silent."""

    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a pipe nobody reads blocks a chatty server
    proc = subprocess.Popen([sys.executable, "-m", "course_lib", "serve", "--port", str(port), *extra_args],
                            cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"python -m course_lib serve exited before it answered:\n{log.read()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            return proc, url
        except urllib.error.HTTPError:  # it answers (a 401 when it wants an API key)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"python -m course_lib serve did not answer within {timeout_s:.0f} s")


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, api: LocalAPI | None = None,
                    api_key: str = "", quiet: bool = True) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a background thread; returns it and its base URL (port 0 picks a free port)."""
    server = make_server(host, port, api, api_key, quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/v1"
