import json
import re
import stat

from django.contrib.auth import get_user_model
from django.core.management import call_command

from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.sla.models import EscalationStep, SlaPolicy
from workflows.models import Item


def test_load_demo_installs_users_a_service_level_and_submits_tickets(db, capsys):
    call_command("load_demo", items=30, password="demo-pass-123")
    out = capsys.readouterr().out
    assert "alice" in out and "demo-pass-123" in out and "API token for api-client" in out
    assert Item.objects.filter(correlation_id="demo-7").count() == 30
    policy = SlaPolicy.objects.get(queue__slug="ticket-triage")
    assert (policy.target_minutes, policy.warn_at_percent) == (60, 75)
    assert EscalationStep.objects.filter(queue=policy.queue).count() == 2

    call_command("load_demo", items=0, password="demo-pass-123")  # again: nothing doubles
    assert SlaPolicy.objects.count() == 1 and EscalationStep.objects.count() == 2
    # The submitted tickets run only when a worker takes them (the demo's history ran here).
    assert Item.objects.filter(correlation_id="demo-7").count() == 30
    assert not ReviewTask.objects.filter(item__correlation_id="demo-7").exists()


def test_passwords_kept_in_a_file_stay_the_same_from_one_run_to_the_next(db, capsys, tmp_path):
    kept = tmp_path / "var" / "demo-passwords.json"
    call_command("load_demo", items=0, passwords_file=kept, history=False)
    first = capsys.readouterr().out
    call_command("load_demo", items=0, passwords_file=kept, history=False)
    second = capsys.readouterr().out
    passwords = json.loads(kept.read_text())
    assert set(passwords) == {"alice", "bob", "maria", "mel", "ines", "api-client", "admin"}
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # for its owner only
    for username, secret in passwords.items():
        assert re.search(rf"^  {re.escape(username)} +{re.escape(secret)} ", first, re.M)
        assert re.search(rf"^  {re.escape(username)} +{re.escape(secret)} ", second, re.M)
    assert get_user_model().objects.get(username="alice").check_password(passwords["alice"])
    assert f"(Kept in {kept}; delete it for new passwords.)" in second

    kept.write_text("{not json")  # a damaged file is replaced, never half-used
    call_command("load_demo", items=0, passwords_file=kept, history=False)
    renewed = json.loads(kept.read_text())
    assert set(renewed) == set(passwords) and renewed["alice"] != passwords["alice"]
