from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "reviewapp.core.audit"
    label = "audit"

    def ready(self) -> None:
        from reviewapp.core.audit.roles import grant_after_migrate

        # Once per migrate, after every app's migrations (sent for each app; this one's only).
        post_migrate.connect(grant_after_migrate, sender=self, dispatch_uid="audit-app-role")
