from django.urls import path

from terminal import views

app_name = "terminal"
urlpatterns = [
    path("try/", views.try_task, name="try"),
    path("try/<int:task_version_id>/", views.try_start, name="try_start"),
    path("sessions/", views.sessions, name="sessions"),
    path("hosts/<str:name>/drain/", views.host_drain, name="host_drain"),
    path("sessions/<uuid:session_id>/", views.session_page, name="session"),
    path("sessions/<uuid:session_id>/end/", views.session_end, name="end"),
    path("sessions/<uuid:session_id>/score/", views.session_score, name="score"),
    path("sessions/<uuid:session_id>/replay/", views.replay, name="replay"),
    path("sessions/<uuid:session_id>/recording.cast", views.recording, name="recording"),
]
