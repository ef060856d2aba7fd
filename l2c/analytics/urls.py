from django.urls import path

from . import views, views_forecast, views_performance, views_reports

urlpatterns = [
    path("", views.home, name="home"),
    path("reports/", views_reports.reports_index, name="reports"),
    path("reports/funnel/", views_reports.funnel_page, name="reports-funnel"),
    path("reports/funnel/export/", views_reports.funnel_export, name="reports-funnel-export"),
    path("reports/cycle-time/", views_reports.cycle_page, name="reports-cycle-time"),
    path("reports/cycle-time/export/", views_reports.cycle_export, name="reports-cycle-time-export"),
    path("reports/attribution/", views_reports.attribution_page, name="reports-attribution"),
    path("reports/attribution/export/", views_reports.attribution_export, name="reports-attribution-export"),
    path("reports/forecast/", views_forecast.forecast_view, name="reports-forecast"),
    path("reports/forecast/accuracy/", views_forecast.accuracy_view, name="reports-forecast-accuracy"),
    path("reports/forecast/overrides/", views_forecast.override_save, name="reports-forecast-override-save"),
    path("reports/forecast/overrides/<int:pk>/delete/", views_forecast.override_delete,
         name="reports-forecast-override-delete"),
    path("reports/forecast/snapshots/", views_forecast.snapshot_take, name="reports-forecast-snapshot-take"),
    path("reports/forecast/export/<slug:table>/", views_forecast.forecast_export, name="reports-forecast-export"),
    path("reports/bottlenecks/", views_performance.bottlenecks_page, name="reports-bottlenecks"),
    path("reports/bottlenecks/export/<slug:table>/", views_performance.bottlenecks_export,
         name="reports-bottlenecks-export"),
    path("reports/performance/", views_performance.performance_page, name="reports-performance"),
    path("reports/performance/export/", views_performance.performance_export, name="reports-performance-export"),
    path("reports/quotas/", views_performance.quota_list_page, name="reports-quotas"),
    path("reports/quotas/<int:quota_id>/edit/", views_performance.quota_edit_page, name="reports-quota-edit"),
    path("reports/quotas/<int:quota_id>/delete/", views_performance.quota_delete_page, name="reports-quota-delete"),
]
