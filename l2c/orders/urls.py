from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("orders/", views.order_list, name="order-list"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/lines/<int:line_id>/ship/", views.line_ship, name="line-ship"),
    path("orders/<int:pk>/lines/<int:line_id>/deliver/", views.line_deliver, name="line-deliver"),
    path("orders/<int:pk>/lines/<int:line_id>/activate/", views.line_activate, name="line-activate"),
    path("orders/<int:pk>/lines/<int:line_id>/deactivate/", views.line_deactivate, name="line-deactivate"),
    path("orders/<int:pk>/lines/<int:line_id>/milestones/", views.line_milestones, name="line-milestones"),
    path("orders/<int:pk>/milestones/<int:milestone_id>/complete/", views.milestone_complete,
         name="milestone-complete"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order-cancel"),
    path("contracts/<int:pk>/orders/", views.contract_orders, name="contract-orders"),
]
