from django.core.management import call_command

from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.sla.models import EscalationStep, SlaPolicy
from workflows.models import Item


def test_load_demo_installs_users_a_service_level_and_submits_tickets(db, capsys):
    call_command("load_demo", items=30, password="demo-pass-123")
    out = capsys.readouterr().out
    assert "alice" in out and "demo-pass-123" in out and "API token for api-client" in out
    assert Item.objects.count() == 30
    policy = SlaPolicy.objects.get(queue__slug="ticket-triage")
    assert (policy.target_minutes, policy.warn_at_percent) == (60, 75)
    assert EscalationStep.objects.filter(queue=policy.queue).count() == 2

    call_command("load_demo", items=0, password="demo-pass-123")  # again: nothing doubles
    assert SlaPolicy.objects.count() == 1 and EscalationStep.objects.count() == 2
    assert not ReviewTask.objects.exists()  # items run only when a worker takes them
