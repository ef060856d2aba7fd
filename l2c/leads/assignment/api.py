"""API routes for lead assignment."""
from ninja import Router

router = Router(tags=["leads: assignment"])
