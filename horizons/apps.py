from django.apps import AppConfig


class HorizonsConfig(AppConfig):
    name = "horizons"
    verbose_name = "Time horizons"
