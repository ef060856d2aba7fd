import pytest

from l2c.pipeline.services import ensure_default_stages


@pytest.fixture
def stages(db):
    """The default stages by name."""
    return {s.name: s for s in ensure_default_stages()}
