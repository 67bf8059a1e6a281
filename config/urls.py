from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from baselining import views_contractors
from config import metrics, views
from terminal.views import readyz

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("apply/", views_contractors.apply, name="apply"),
    path("", include("baselining.urls_flags")),  # flags: under tasks/ and terminal/, before them
    path("tasks/", include("tasks.urls")),
    path("terminal/", include("terminal.urls")),
    path("work/", include("baselining.urls")),
    path("stats/", include("baselining.urls_stats")),
    path("horizons/", include("horizons.urls")),
    path("api/", include("api.urls")),
    path("admin/", admin.site.urls),
]
