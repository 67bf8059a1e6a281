from django.urls import path

from tasks import views

app_name = "tasks"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("import/", views.upload, name="upload"),
    path("<str:family>/<str:name>/", views.task_page, name="detail"),
    path("<str:family>/<str:name>/status/", views.change_status, name="status"),
]
