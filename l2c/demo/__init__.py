"""Demo data for L2C: `l2c demo [--leads N] [--seed S]`.

Deterministic for a seed (the same seed gives the same people, companies, statuses and amounts;
timestamps are relative to today), realistic (English and Chinese names), every lead status and
every pipeline stage represented, with stage history going back months. Scales to a million leads
for benchmarks: rows are built in memory per chunk and written with bulk_create.
"""
from .users import DEMO_PASSWORD, DEMO_USERNAMES, DEMO_USERS, DemoUser

__all__ = ["DEMO_PASSWORD", "DEMO_USERNAMES", "DEMO_USERS", "DemoUser", "generate", "DemoResult"]


def __getattr__(name):
    # generate/DemoResult import the models: load them only when asked (after django.setup()).
    if name in ("generate", "DemoResult"):
        from . import generator

        return getattr(generator, name)
    raise AttributeError(name)
