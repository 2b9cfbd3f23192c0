"""The beat leader lease: one holder at a time, take-over only after it lapses, and a fence that
keeps a stalled leader from sending beside its successor."""

from datetime import timedelta

from django.db.models.functions import Now
from django.utils import timezone

from reviewapp.core.health.lease import (
    BEAT,
    lease_dispatch,
    lease_forfeit,
    lease_hold,
    lease_release,
)
from reviewapp.core.health.models import BeatLease, Heartbeat, ProcessKind
from reviewapp.core.health.selectors import beat_leader, processes
from reviewapp.core.health.services import heartbeat_beat


def hold(token: str, seconds: float = 30) -> int | None:
    return lease_hold(holder=f"beat@{token}", token=token, seconds=seconds)


def lapse() -> None:
    BeatLease.objects.filter(name=BEAT).update(expires_at=Now() - timedelta(seconds=1))


def test_the_first_beat_takes_the_lease_and_the_next_stands_by(db):
    assert hold("a") == 1
    assert hold("b") is None
    assert hold("a") == 1, "renewing keeps the fence"
    lease = BeatLease.objects.get(name=BEAT)
    assert (lease.holder, lease.holder_token) == ("beat@a", "a")
    assert lease.expires_at > timezone.now() + timedelta(seconds=20)


def test_a_standby_takes_over_a_lapsed_lease_with_a_new_fence(db):
    assert hold("a") == 1
    lapse()
    assert hold("b") == 2
    assert hold("a") is None, "the old leader finds the lease taken"
    assert BeatLease.objects.get(name=BEAT).holder == "beat@b"


def test_a_leader_that_stalled_past_its_lease_cannot_send(db):
    fence = hold("a")
    assert fence is not None
    assert lease_dispatch(token="a", fence=fence)
    lapse()
    assert not lease_dispatch(token="a", fence=fence), "a lapsed lease sends nothing"
    new_fence = hold("b")
    assert new_fence is not None
    assert not lease_dispatch(token="a", fence=fence)
    assert lease_dispatch(token="b", fence=new_fence)
    assert BeatLease.objects.get(name=BEAT).sent == 1, "sent counts the current fence only"


def test_a_leader_that_lapsed_unnoticed_retakes_its_own_lease_with_a_new_fence(db):
    assert hold("a") == 1
    lapse()
    assert hold("a") == 2
    assert not lease_dispatch(token="a", fence=1)


def test_releasing_lets_a_standby_take_over_at_once(db):
    assert hold("a") == 1
    lease_release(token="a")
    assert hold("b") == 2
    lease_release(token="a")  # a released leader cannot release its successor's lease
    assert hold("c") is None


def test_the_pipeline_page_data_says_which_beat_sends(db):
    now = timezone.now()
    for name in ("beat@a", "beat@b"):
        heartbeat_beat(name=name, kind=ProcessKind.BEAT, hostname="h", pid=1, started_at=now)
    hold("a")
    roles = {state.heartbeat.name: state.leads for state in processes()}
    assert roles == {"beat@a": True, "beat@b": False}
    assert beat_leader() == "beat@a"
    lapse()
    assert beat_leader() is None
    assert not any(state.leads for state in processes())
    assert Heartbeat.objects.count() == 2


def test_a_supervisor_forfeits_the_lease_of_a_beat_it_saw_exit(db):
    assert hold("a") == 1
    lease_forfeit(holder="beat@b")  # not the holder: nothing happens
    assert hold("b") is None
    lease_forfeit(holder="beat@a")
    assert hold("b") == 2
