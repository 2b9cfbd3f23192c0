"""The workflow registry: publish a definition as a new immutable version; register models."""

from django.db import transaction

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Forbidden
from workflows.models import Workflow


@transaction.atomic
def workflow_publish(*, slug: str, name: str, team, definition: dict, acting_user=None):
    """Create the workflow or, when the definition changed, a new immutable version of it."""
    from reviewapp.core.permissions import team_grant_object_permissions
    from workflows.act.secrets import webhook_secret_refusal
    from workflows.definitions import DefinitionInvalid
    from workflows.models import ModelVersion, WorkflowVersion, definition_checksum

    workflow, created = Workflow.objects.get_or_create(
        slug=slug, defaults={"name": name, "team": team}
    )
    hook = definition.get("webhook") or {}
    refusal = hook.get("secret_env") and webhook_secret_refusal(
        team_slug=workflow.team.slug, name=hook["secret_env"]
    )
    if refusal:
        raise DefinitionInvalid([f"{slug}: definition.webhook.secret_env: {refusal}"])
    binding = definition.get("model") or {}
    # A model registered by hand belongs to the first team whose workflow is bound to it.
    ModelVersion.objects.filter(
        name=binding.get("name"), version=binding.get("version"), team__isnull=True
    ).update(team=workflow.team)
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
    *,
    name: str,
    version: str,
    artefact: str,
    labels: list[str],
    metrics: dict,
    team=None,
    acting_user=None,
):
    from workflows.models import ModelVersion
    from workflows.pipeline.adapters.builtin import artefact_sha256

    model_version, _ = ModelVersion.objects.update_or_create(
        name=name,
        version=version,
        defaults={
            "artefact": artefact,
            "sha256": artefact_sha256(artefact),
            "labels": labels,
            "metrics": metrics,
            **({"team": team} if team is not None else {}),
        },
    )
    audit_record(
        action="model_version.registered",
        obj=model_version,
        actor=acting_user,
        data={
            "name": name,
            "version": version,
            "sha256": model_version.sha256,
            "metrics": metrics,
            "team": model_version.team.slug if model_version.team else None,
        },
    )
    return model_version


class ModelShareForbidden(Forbidden):
    """Only an admin may share a team's model with another team."""


@transaction.atomic(durable=True)
def model_version_share(*, model_version, team, acting_user, shared: bool = True):
    """Let ``team`` use another team's model (or take that back); audited on the owner's side.

    Superusers, and admins of the team that owns the model, may share it.
    """
    from reviewapp.core.accounts.models import Membership, Role

    owner = model_version.team
    is_owner_admin = (
        owner is not None
        and Membership.objects.filter(user_id=acting_user.pk, team=owner, role=Role.ADMIN).exists()
    )
    if not (acting_user.is_superuser or is_owner_admin):
        raise ModelShareForbidden("Only an admin of the team that owns this model may share it.")
    if shared:
        model_version.shared_with.add(team)
    else:
        model_version.shared_with.remove(team)
    audit_record(
        action="model_version.shared" if shared else "model_version.unshared",
        obj=model_version,
        actor=acting_user,
        data={
            "model": str(model_version),
            "owner": owner.slug if owner else None,
            "team": team.slug,
        },
    )
    return model_version
