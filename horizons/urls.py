from django.urls import path

from horizons import views

app_name = "horizons"
urlpatterns = [
    path("", views.horizons, name="index"),
    path("flag/", views.flag_signal, name="flag"),
]
