"""`l2c serve` for real: gunicorn answers, WhiteNoise serves static files, a task sent over the
filesystem broker reaches the worker, and SIGINT leaves no process behind."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment mentions `marker` (our private var dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def get(url: str) -> tuple[int, bytes]:
    # generous: a worker's first request imports every app and compiles templates, slow on a loaded CI machine
    with urllib.request.urlopen(url, timeout=45) as response:  # noqa: S310 - local test server
        return response.status, response.read()


def test_serve_runs_web_and_worker_and_stops_cleanly(tmp_path):
    env = {**os.environ, "L2C_VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    l2c = [sys.executable, "-m", "l2c.cli"]
    subprocess.run([*l2c, "migrate", "-v0"], env=env, check=True, cwd=tmp_path)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([*l2c, "serve", "--port", str(port), "--workers", "1"], env=env, cwd=tmp_path,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # serve migrates, collects and compresses static files first
        while "L2C is running" not in log_path.read_text():
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        assert f"http://127.0.0.1:{port}/" in log_path.read_text()

        status, body = get(f"http://127.0.0.1:{port}/login/")
        assert status == 200 and b"<form" in body
        status, css = get(f"http://127.0.0.1:{port}/static/l2c/css/app.css")
        assert status == 200 and len(css) > 100

        # a task travels over the filesystem broker to the worker
        subprocess.run([*l2c, "shell", "-c",
                        "from l2c.core.tasks import verify_audit_chain; verify_audit_chain.delay()"],
                       env=env, check=True, cwd=tmp_path)
        deadline = time.monotonic() + 120
        while "verify_audit_chain" not in log_path.read_text() or "succeeded" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=40)

    assert code == 0, log_path.read_text()
    assert "L2C stopped" in log_path.read_text()
    time.sleep(0.5)
    assert processes_with(str(tmp_path)) == []
