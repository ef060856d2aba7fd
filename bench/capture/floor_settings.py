"""l2c.settings plus the floor endpoints of bench/capture/floor.py (capture benchmark only)."""
from l2c.settings import *  # noqa: F403

ROOT_URLCONF = "bench.capture.floor"
