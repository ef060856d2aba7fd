"""A real local webhook receiver: http.server in a thread on 127.0.0.1 (random port) that checks each request's
signature with `verify_signature` and records what it got. `receiver.answers` is a queue of status codes
(default 200 once it is empty); `receiver.delay` makes it answer late."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from l2c.automation.signing import verify_signature


class Receiver:
    def __init__(self):
        self.secret = ""
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.delay = 0.0
        self.url = ""


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append({
                "path": self.path, "headers": dict(self.headers.items()), "body": body,
                "verified": verify_signature(state.secret, self.headers.get("X-L2C-Signature"), body)})
            if state.delay:
                time.sleep(state.delay)
            code = state.answers.pop(0) if state.answers else 200
            payload = b'{"ok": true}' if code < 300 else b"receiver broke"
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/l2c"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint_for(admin_user, receiver):
    """An active endpoint at the receiver (the receiver learns its secret)."""
    from l2c.automation import services

    def make(event_types=("*",), **values):
        endpoint = services.endpoint_create(actor=admin_user, name=values.pop("name", "Receiver"),
                                            url=values.pop("url", receiver.url), event_types=list(event_types),
                                            **values)
        receiver.secret = endpoint.secret
        return endpoint

    return make


@pytest.fixture(autouse=True)
def _no_cached_rules():
    """Each test starts and ends without the engine's cached rules (rolled-back rules must not linger)."""
    from l2c.automation import engine

    engine.forget_rules()
    yield
    engine.forget_rules()
