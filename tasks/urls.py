from django.urls import path

from tasks import views, views_flags

app_name = "tasks"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("import/", views.upload, name="upload"),
    path("import/<int:job_id>/", views.import_job, name="import_job"),
    path("flags/", views_flags.board, name="flags"),
    path("flags.csv", views_flags.flags_csv, name="flags_csv"),
    path("flags/api/", views_flags.api_raise, name="flags_api"),
    path("flags/<int:flag_id>/", views_flags.flag_page, name="flag"),
    path("<str:family>/<str:name>/", views.task_page, name="detail"),
    path("<str:family>/<str:name>/status/", views.change_status, name="status"),
]
