from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("q/<str:token>/", views.quote_page, name="quote"),
    path("q/<str:token>/pdf", views.quote_pdf, name="quote-pdf"),
    path("q/<str:token>/signed.pdf", views.signed_pdf, name="signed-pdf"),
    path("q/<str:token>/sign/", views.sign, name="sign"),
    path("q/<str:token>/decline/", views.decline, name="decline"),
]
