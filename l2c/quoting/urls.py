from django.urls import path  # noqa: F401

app_name = "quoting"

urlpatterns: list = []

from .urls_quotes import urlpatterns as _quotes  # noqa: E402

urlpatterns += _quotes

from .urls_catalogue import urlpatterns as _catalogue  # noqa: E402

urlpatterns += _catalogue

from .urls_documents import urlpatterns as _documents  # noqa: E402

urlpatterns += _documents
