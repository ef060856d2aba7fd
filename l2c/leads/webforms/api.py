"""API routes for lead webforms."""
from ninja import Router

router = Router(tags=["leads: webforms"])
