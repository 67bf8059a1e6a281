from django.apps import AppConfig


class BaseliningConfig(AppConfig):
    name = "baselining"
