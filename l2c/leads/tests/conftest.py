import pytest

from l2c.core.events import subscribe


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """Events published (and delivered after commit) while the test runs: [(name, payload)]."""
    seen = []

    def handler(name, payload):
        seen.append((name, payload))

    subscribe("*", handler)
    yield seen
    from l2c.core import events

    events._SUBSCRIBERS["*"].remove(handler)
