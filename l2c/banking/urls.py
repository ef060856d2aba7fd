from django.urls import path

from . import views

app_name = "banking"

urlpatterns = [
    path("banking/", views.statement_list, name="home"),
    path("banking/statements/", views.statement_list, name="statement-list"),
    path("banking/statements/<int:pk>/", views.statement_detail, name="statement-detail"),
    path("banking/statements/<int:pk>/match/", views.statement_rematch, name="statement-rematch"),
    path("banking/statements/<int:pk>/lines/<int:line_pk>/match/", views.line_match, name="line-match"),
    path("banking/statements/<int:pk>/lines/<int:line_pk>/ignore/", views.line_ignore, name="line-ignore"),
    path("banking/statements/<int:pk>/lines/<int:line_pk>/restore/", views.line_restore, name="line-restore"),
    path("banking/import/", views.statement_import, name="import"),
]

from .views_unmatch import urlpatterns as unmatch_urlpatterns  # noqa: E402

urlpatterns += unmatch_urlpatterns
