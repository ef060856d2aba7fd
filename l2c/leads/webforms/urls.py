from django.urls import path

from . import views

urlpatterns = [
    path("leads/forms/", views.webform_list, name="webform-list"),
    path("leads/forms/new/", views.webform_create, name="webform-create"),
    path("leads/forms/<int:pk>/", views.webform_detail, name="webform-detail"),
    # public: the hosted form (GET), submissions (POST: form posts and JSON), CORS preflight (OPTIONS)
    path("f/<str:key>", views.public_form, name="webform-public"),
]
