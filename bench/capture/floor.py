"""Floor endpoints for the capture benchmark (bench/capture_bench.py only; never part of the app).

`bench.capture.floor_settings` (l2c.settings with ROOT_URLCONF pointing here): the application's own URLs plus two endpoints that
do the least a synchronous capture can do through the same stack (middleware, routing, connection
handling), so that the benchmark shows how far the real endpoints are from what is possible:

    POST /bench/floor/bare   parse the JSON body, INSERT one row into a bare table (no index), commit
    POST /bench/floor/lead   parse the JSON body, INSERT one row into leads_lead (its real indexes), commit

No validation, no authentication, no touch, no audit event: a lower bound, not an alternative.
"""
import json

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def floor_bare(request):
    data = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (email, last_name, company) VALUES (%s, %s, %s) RETURNING id",
                       [data.get("email", ""), data.get("last_name", ""), data.get("company", "")])
        new_id = cursor.fetchone()[0]
    return JsonResponse({"id": new_id}, status=201)


@csrf_exempt
def floor_lead(request):
    data = json.loads(request.body)
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_lead (created_at, updated_at, first_name, last_name, title, email, phone, company, "
            "website, industry, company_size, city, country, source, utm_source, utm_medium, utm_campaign, utm_term, "
            "utm_content, consent_basis, consent_text, consent_source, status, disqualified_reason, description) "
            "VALUES (%s, %s, %s, %s, '', %s, '', %s, '', '', '', '', %s, 'api', '', '', '', '', '', '', '', '', "
            "'new', '', '') RETURNING id",
            [now, now, data.get("first_name", ""), data.get("last_name", ""), data.get("email", ""),
             data.get("company", ""), data.get("country", "")])
        new_id = cursor.fetchone()[0]
    return JsonResponse({"id": new_id}, status=201)


urlpatterns = [
    path("bench/floor/bare", floor_bare),
    path("bench/floor/lead", floor_lead),
    path("", include("l2c.urls")),
]
