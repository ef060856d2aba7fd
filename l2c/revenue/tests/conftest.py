"""Revenue tests close months of 2026 and 2027 whatever today's date: `close._today` is moved past them (a test
of the "month not over" rule puts it back)."""
import datetime as dt

import pytest


@pytest.fixture(autouse=True)
def _months_are_over(monkeypatch):
    from l2c.revenue import close

    monkeypatch.setattr(close, "_today", lambda: dt.date(2030, 1, 1))
