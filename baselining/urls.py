from django.urls import path

from baselining import views, views_contractors

app_name = "baselining"
urlpatterns = [
    path("", views.work, name="work"),
    path("rules/", views.accept_rules, name="rules"),
    path("next/", views.next_task, name="next"),
    path("assignments/<int:assignment_id>/", views.assignment_page, name="assignment"),
    path("sessions/<int:session_id>/", views.session_page, name="session"),
    path("sessions/<int:session_id>/clock.json", views.session_clock, name="clock"),
    path("sessions/<int:session_id>/report/", views.flag_form, name="flag"),
    path("sessions/<int:session_id>/<slug:action>/", views.session_action, name="action"),
    path("review/", views.review_queue, name="review_queue"),
    path("vetting/", views_contractors.vetting, name="vetting"),
    path("vetting/<int:profile_id>/", views_contractors.vet, name="vet"),
    path("invitations/", views_contractors.invite, name="invite"),
    path("assign/", views_contractors.assign, name="assign"),
    path("review/<int:session_id>/", views.review_page, name="review"),
]
