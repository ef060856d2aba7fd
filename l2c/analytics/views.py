"""Home: my tasks (today and overdue) and my pipeline (for a manager, the team's)."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from l2c.pipeline import selectors as pipeline


@login_required
def home(request):
    user = request.user
    context = {"now": timezone.now()}
    if user.is_sales:
        team = user.is_admin or user.is_manager
        tasks = list(pipeline.my_tasks(user=user)[:50])
        context.update(
            tasks=tasks,
            overdue_count=sum(1 for t in tasks if t.is_overdue),
            summary=pipeline.pipeline_summary(user=user, team=team),
            team_view=team,
        )
    return render(request, "analytics/home.html", context)
