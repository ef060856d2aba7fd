"""Live state of a running import, shared by the worker and the web processes through files.

Why files and not the database: the import writes its rows in one transaction (so a failure or a
cancel leaves nothing half-written). On SQLite that transaction holds the database's only write lock
for as long as it runs, so neither the worker's progress UPDATE nor the web's "cancel" UPDATE could be
committed until the import is over. On PostgreSQL a second connection could do it, but then the two
databases would behave differently. The Django cache is no better: its default backend lives in one
process's memory, which the web process cannot read.

So the worker keeps `rows_processed`/`rows_total` in a small JSON file, replaced atomically at most
every half second, and the selectors overlay it on the job while it runs; a cancel drops a marker
file the worker checks (besides the `cancel_requested` column, which it also re-reads). Both live
beside the uploaded files under MEDIA_ROOT, which web and workers must share anyway to read the
upload, and are removed when the job ends; the final counts go into the job's row.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings


def state_dir(job_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / "state" / str(int(job_id))


def write_progress(job_id: int, rows_processed: int, rows_total: int) -> None:
    folder = state_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".progress-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"rows_processed": int(rows_processed), "rows_total": int(rows_total)}, fh)
        os.replace(tmp, folder / "progress.json")  # atomic: a reader sees the old or the new file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_progress(job_id: int) -> dict | None:
    """{"rows_processed": n, "rows_total": n} while the job runs, else None."""
    try:
        with open(state_dir(job_id) / "progress.json", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return {"rows_processed": int(data["rows_processed"]), "rows_total": int(data["rows_total"])}
    except (KeyError, TypeError, ValueError):
        return None


def request_cancel(job_id: int) -> None:
    folder = state_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cancel").touch()


def cancel_marked(job_id: int) -> bool:
    return (state_dir(job_id) / "cancel").exists()


def clear(job_id: int) -> None:
    shutil.rmtree(state_dir(job_id), ignore_errors=True)
