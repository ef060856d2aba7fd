"""The operator commands: createuser and token, serve's arguments and its process supervisor, worker."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from l2c import cli
from l2c.core.management.commands import serve, worker
from l2c.core.supervisor import Child, Supervisor
from l2c.identity.models import ApiToken, User

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that never reaps counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# --- createuser and token ------------------------------------------------------------------------

@pytest.mark.django_db
def test_createuser_then_token_create_prints_a_working_token_stored_only_as_hash():
    call_command("createuser", "dana", "--role", "rep", "--team", "East", "--password", "Corr3ct-Horse-Battery",
                 stdout=StringIO())
    out, err = StringIO(), StringIO()

    call_command("token", "create", "dana", stdout=out, stderr=err)

    raw = out.getvalue().strip()
    token = ApiToken.objects.get(user__username="dana")
    assert raw.startswith("l2c_") and len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.token_hash, token.prefix, token.name}
    assert "shown only once" in err.getvalue()
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["username"] == "dana"
    user = User.objects.get(username="dana")
    assert user.role == "rep" and user.team.name == "East" and user.check_password("Corr3ct-Horse-Battery")


@pytest.mark.django_db
def test_createuser_refuses_a_weak_password_and_creates_nothing():
    with pytest.raises(CommandError, match="password"):
        call_command("createuser", "erin", "--password", "123", stdout=StringIO())
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.django_db
def test_l2c_cli_accepts_dashes_and_returns_the_exit_code(capsys, monkeypatch):
    # run_from_argv closes every connection when done; keep the test's transaction open
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    assert cli.main(["verify-audit"]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    assert cli.main(["token", "create", "nobody"]) != 0
    assert "nobody" in capsys.readouterr().err


# --- serve: arguments and the commands it runs ---------------------------------------------------

def parse_serve(*argv):
    return serve.Command().create_parser("l2c", "serve").parse_args(list(argv))


def test_serve_defaults():
    opts = parse_serve()
    assert (opts.host, opts.port, opts.workers, opts.no_worker) == ("127.0.0.1", 8000, None, False)


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "must be at least 1"),
    (["--port", "70000"], "not a TCP port"),
    (["--port", "http"], "not a whole number"),
    (["--workers", "0"], "must be at least 1"),
])
def test_serve_refuses_bad_arguments(argv, message):
    with pytest.raises(CommandError, match=message):
        parse_serve(*argv)


def test_serve_runs_gunicorn_and_a_worker_with_beat_from_this_python():
    opts = parse_serve("--host", "0.0.0.0", "--port", "9001", "--workers", "3")
    web, work = serve.Command().build_children(host=opts.host, port=opts.port, workers=opts.workers,
                                               no_worker=opts.no_worker)

    assert web.argv[:4] == [sys.executable, "-m", "gunicorn", "l2c.wsgi:application"]
    assert web.argv[web.argv.index("--bind") + 1] == "0.0.0.0:9001"
    assert web.argv[web.argv.index("--workers") + 1] == "3"
    assert work.argv[:6] == [sys.executable, "-m", "celery", "-A", "l2c", "worker"]
    assert "-B" in work.argv and work.argv[work.argv.index("--concurrency") + 1] == "1"


def test_serve_no_worker_runs_the_web_server_only():
    children = serve.Command().build_children(host="::1", port=8000, workers=2, no_worker=True)
    assert [c.name for c in children] == ["web"]
    assert children[0].argv[children[0].argv.index("--bind") + 1] == "[::1]:8000"


def test_web_concurrency_must_be_a_positive_number(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    assert serve.Command.default_workers() == 4
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    with pytest.raises(CommandError, match="WEB_CONCURRENCY"):
        serve.Command.default_workers()


def test_broker_folders_are_created_for_the_filesystem_broker(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "q"), "data_folder_out": str(tmp_path / "q"),
        "processed_folder": str(tmp_path / "done"),
    }
    serve.ensure_broker_folders()
    assert (tmp_path / "q").is_dir() and (tmp_path / "done").is_dir()

    settings.CELERY_BROKER_URL = "redis://localhost:6379/0"
    assert serve.ensure_broker_folders() == []


def test_worker_execs_celery_with_beat_only_when_asked():
    command = worker.Command()
    plain = command.argv(concurrency=4, beat=False, loglevel="info")
    with_beat = command.argv(concurrency=None, beat=True, loglevel="warning")

    assert plain[:6] == [sys.executable, "-m", "celery", "-A", "l2c", "worker"]
    assert plain[plain.index("--concurrency") + 1] == "4" and "-B" not in plain
    assert "-B" in with_beat and with_beat[with_beat.index("-l") + 1] == "warning"
    assert int(with_beat[with_beat.index("--concurrency") + 1]) == (os.cpu_count() or 1)


# --- the supervisor ------------------------------------------------------------------------------

def test_supervisor_stops_every_child_on_a_stop_request():
    supervisor = Supervisor([Child("a", SLEEPER), Child("b", SLEEPER)], grace_seconds=5, log=lambda m: None)
    supervisor.start()
    pids = [c.pid for c in supervisor.children]
    threading.Timer(0.5, supervisor.request_stop, args=(signal.SIGTERM, None)).start()

    code = supervisor.watch()

    assert code == 0
    assert not any(alive(pid) for pid in pids)


def test_when_one_child_dies_the_others_are_stopped_and_its_code_returned():
    crasher = [sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(3)"]
    supervisor = Supervisor([Child("web", SLEEPER), Child("worker", crasher)], grace_seconds=5, log=lambda m: None)
    supervisor.start()
    web_pid = supervisor.children[0].pid

    code = supervisor.watch()

    assert code == 3
    assert not alive(web_pid)


def test_a_child_exiting_cleanly_on_its_own_is_still_a_failure():
    supervisor = Supervisor([Child("web", SLEEPER), Child("quitter", [sys.executable, "-c", "pass"])],
                            grace_seconds=5, log=lambda m: None)
    supervisor.start()
    assert supervisor.watch() == 1


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    ready = tmp_path / "ready"
    stubborn = [sys.executable, "-c",
                "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                f"pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"]
    supervisor = Supervisor([Child("stubborn", stubborn)], grace_seconds=0.5, log=lambda m: None)
    supervisor.start()
    assert wait_for(ready.exists)
    started = time.monotonic()

    supervisor.stop_all()

    assert not alive(supervisor.children[0].pid)
    assert time.monotonic() - started < 5


def test_grandchildren_left_behind_by_a_child_are_stopped_too(tmp_path):
    pid_file = tmp_path / "grandchild"
    parent = [sys.executable, "-c",
              "import subprocess, sys, time, pathlib; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
              f"pathlib.Path({str(pid_file)!r}).write_text(str(p.pid)); time.sleep(30)"]
    supervisor = Supervisor([Child("pool", parent)], grace_seconds=5, log=lambda m: None)
    supervisor.start()
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text())
    grandchild = int(pid_file.read_text())

    supervisor.stop_all()

    assert wait_for(lambda: not alive(grandchild), timeout=5)


SUPERVISED = """
import sys
from l2c.core.supervisor import Child, Supervisor
sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
supervisor = Supervisor([Child("a", sleep), Child("b", sleep)], grace_seconds=5, log=lambda m: None)
supervisor.install_signal_handlers()
supervisor.start()
print(" ".join(str(c.pid) for c in supervisor.children), flush=True)
sys.exit(supervisor.watch())
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_to_the_supervisor_stops_all_children(signum):
    process = subprocess.Popen([sys.executable, "-c", SUPERVISED], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in process.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(p) for p in pids)

    process.send_signal(signum)

    assert process.wait(timeout=15) == 0
    assert not any(alive(pid) for pid in pids)
