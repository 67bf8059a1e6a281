from django.urls import path

from baselining import views_stats

app_name = "stats"
urlpatterns = [
    path("", views_stats.dashboard, name="dashboard"),
    path("exports/", views_stats.exports, name="exports"),
    path("exports/<str:name>", views_stats.export_download, name="export"),
]
