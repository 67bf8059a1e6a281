"""Routes under /api/ (config/urls.py includes them). Read-only, staff-only: see docs/api.md."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views

app_name = "api"
urlpatterns = [
    path("", views.Root.as_view(), name="root"),
    path("tasks/", views.TaskList.as_view(), name="tasks"),
    path("tasks/<str:family>/<str:name>/", views.TaskDetail.as_view(), name="task"),
    path("sessions/", views.SessionList.as_view(), name="sessions"),
    path("sessions/<int:pk>/", views.SessionDetail.as_view(), name="session"),
    path("flags/", views.FlagList.as_view(), name="flags"),
    path("flags/<int:pk>/", views.FlagDetail.as_view(), name="flag"),
    path("statistics/", views.StatisticsList.as_view(), name="statistics"),
    path("exports/<str:name>", views.ExportDownload.as_view(), name="export"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
