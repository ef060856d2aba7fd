"""API routes for lead dedupe."""
from ninja import Router

router = Router(tags=["leads: dedupe"])
