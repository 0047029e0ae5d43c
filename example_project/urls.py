"""URLs of the example project: the admin, autosched's health URL, and a redirect to the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("autosched/", include("autosched.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
