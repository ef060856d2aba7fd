from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    path("contracts/", views.contract_list, name="contract-list"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract-detail"),
    path("contracts/<int:pk>/signed-pdf/", views.contract_signed_pdf, name="contract-signed-pdf"),
    path("contracts/<int:pk>/terminate/", views.contract_terminate, name="contract-terminate"),
    path("contracts/<int:pk>/renew/", views.contract_renew, name="contract-renew"),
    path("opportunities/<int:pk>/contract/", views.opportunity_contract, name="opportunity-contract"),
]
