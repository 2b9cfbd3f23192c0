"""Policy as code: make the database match a workflow definition file, across every stage
(the machine side's workflow version and the human side's queue and reason codes)."""

from django.db import transaction

from workflows.models import Workflow
from workflows.services import workflow_publish


@transaction.atomic
def workflow_sync(*, source, acting_user=None) -> Workflow:
    """Make the database match one definition file: team, workflow version, queue, reasons.

    ``source`` is a loaded ``workflows.definitions.WorkflowFile``. Publishing is a no-op when the
    definition is unchanged, so running the sync twice creates nothing.
    """
    from reviewapp.core.accounts.models import Team
    from reviewapp.review.corrections.services import reason_codes_sync
    from reviewapp.review.reviews.queues import queue_create
    from workflows.definitions import DefinitionInvalid
    from workflows.models import ModelAdapterKind, ModelVersion

    binding = source.definition["model"]
    if "approval" in source.definition:
        # In an approval workflow the agent's proposal stands where a model's output would:
        # nothing to register beforehand, nothing is ever called.
        ModelVersion.objects.get_or_create(
            name=binding["name"],
            version=binding["version"],
            defaults={"adapter": ModelAdapterKind.AGENT, "labels": []},
        )
    if not ModelVersion.objects.filter(name=binding["name"], version=binding["version"]).exists():
        raise DefinitionInvalid(
            [
                f"{source.path.name}: definition.model: no registered model "
                f"{binding['name']}@{binding['version']}"
            ]
        )
    team, _ = Team.objects.get_or_create(slug=source.team, defaults={"name": source.team})
    workflow = workflow_publish(
        slug=source.slug,
        name=source.name,
        team=team,
        definition=source.definition,
        acting_user=acting_user,
    )
    queue_create(
        team=team,
        workflow=workflow,
        slug=source.queue_slug,
        name=source.queue_name,
        acting_user=acting_user,
    )
    reason_codes_sync(workflow=workflow, codes=source.reason_codes)
    return workflow
