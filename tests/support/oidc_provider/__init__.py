"""The test identity provider's own Django project (``tests/support/oidc.py`` starts it).

Nothing here may import reviewapp: the provider process configures Django with its own
settings."""
