"""Catalogue pages (included by l2c/quoting/urls.py, namespace "quoting")."""
from django.urls import path

from . import views_catalogue as views

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_create, name="product-create"),
    path("products/export/", views.product_export, name="product-export"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("products/<int:pk>/edit/", views.product_edit, name="product-edit"),
    path("products/<int:pk>/delete/", views.product_delete, name="product-delete"),
    path("price-books/", views.price_book_list, name="price-book-list"),
    path("price-books/new/", views.price_book_create, name="price-book-create"),
    path("price-books/<int:pk>/", views.price_book_detail, name="price-book-detail"),
    path("price-books/<int:pk>/edit/", views.price_book_edit, name="price-book-edit"),
    path("price-books/<int:pk>/delete/", views.price_book_delete, name="price-book-delete"),
    path("price-books/<int:pk>/copy/", views.price_book_copy, name="price-book-copy"),
    path("price-books/<int:pk>/entries/new/", views.entry_create, name="price-book-entry-create"),
    path("price-books/<int:pk>/entries/<int:entry_id>/edit/", views.entry_edit, name="price-book-entry-edit"),
    path("price-books/<int:pk>/entries/<int:entry_id>/delete/", views.entry_delete, name="price-book-entry-delete"),
    path("settings/tax-rates/", views.tax_rate_list, name="tax-rate-list"),
    path("settings/tax-rates/new/", views.tax_rate_create, name="tax-rate-create"),
    path("settings/tax-rates/<int:pk>/edit/", views.tax_rate_edit, name="tax-rate-edit"),
    path("settings/tax-rates/<int:pk>/delete/", views.tax_rate_delete, name="tax-rate-delete"),
]
