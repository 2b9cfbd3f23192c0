"""The workflow registry: publish a definition as a new immutable version; register models."""

from django.db import transaction

from reviewapp.core.audit.services import audit_record
from workflows.models import Workflow


@transaction.atomic
def workflow_publish(*, slug: str, name: str, team, definition: dict, acting_user=None):
    """Create the workflow or, when the definition changed, a new immutable version of it."""
    from reviewapp.core.permissions import team_grant_object_permissions
    from workflows.models import WorkflowVersion, definition_checksum

    workflow, created = Workflow.objects.get_or_create(
        slug=slug, defaults={"name": name, "team": team}
    )
    # Granted on every publish, so permissions added in a release reach existing workflows.
    team_grant_object_permissions(team=workflow.team, workflows=[workflow])
    checksum = definition_checksum(definition)
    current = workflow.current_version
    if current is not None and current.checksum == checksum:
        return workflow
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=(current.number + 1) if current else 1,
        definition=definition,
        checksum=checksum,
    )
    workflow.current_version = version
    workflow.name = name
    workflow.save(update_fields=["current_version", "name"])
    audit_record(
        action="workflow.created" if created else "workflow.version_published",
        obj=workflow,
        actor=acting_user,
        chain=workflow.audit_chain,
        data={"version": version.number, "checksum": checksum},
    )
    return workflow


@transaction.atomic
def model_version_register(
    *, name: str, version: str, artefact: str, labels: list[str], metrics: dict, acting_user=None
):
    from reviewapp.core.checksums import file_sha256
    from workflows.models import ModelVersion
    from workflows.pipeline.adapters.builtin import artefact_path

    model_version, _ = ModelVersion.objects.update_or_create(
        name=name,
        version=version,
        defaults={
            "artefact": artefact,
            "sha256": file_sha256(artefact_path(artefact)),
            "labels": labels,
            "metrics": metrics,
        },
    )
    audit_record(
        action="model_version.registered",
        obj=model_version,
        actor=acting_user,
        data={"name": name, "version": version, "sha256": model_version.sha256, "metrics": metrics},
    )
    return model_version
