"""Home: the dashboard of the user's role (analytics.dashboards): my tasks, pipeline, hot leads and quarter for
sales users; the team's forecast and stuck deals for managers and admins; receivables, cash and deferred revenue
for finance and admins."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from . import dashboards


@login_required
def home(request):
    now = timezone.now()
    context = {"now": now, **dashboards.dashboard(user=request.user, now=now)}
    return render(request, "analytics/home.html", context)
