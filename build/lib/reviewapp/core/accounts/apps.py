from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "reviewapp.core.accounts"
    label = "accounts"
