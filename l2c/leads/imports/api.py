"""API routes for lead imports."""
from ninja import Router

router = Router(tags=["leads: imports"])
