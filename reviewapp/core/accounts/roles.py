"""The roles a person holds in a team (a module of its own: settings parse them at start-up,
before any model can be imported)."""

from django.db import models


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    MANAGER = "manager", "Manager"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    INTEGRATOR = "integrator", "Integrator"
    ADMIN = "admin", "Admin"
