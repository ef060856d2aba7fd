from .engine_fixtures import email_template, enroll, lead_for, sequence_with, smtp_sink  # noqa: F401
