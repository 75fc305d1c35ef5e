"""The keyed audit chain: without DUSK_AUDIT_KEYS nobody can edit the trail and re-hash it
forward unnoticed; a rotated key still verifies the events the old key signed; events written
before the chain was keyed keep verifying."""

import hashlib
import io
from datetime import UTC, datetime

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import transaction

from channels_app.audit.services import record_event, seal_chain_head, verify_chain
from channels_app.models import AuditChainHead, AuditEvent
from channels_app.tests.support.factories import ChannelFactory
from channels_app.tests.support.helpers import approved_plan

KEY_A = "a" * 40
KEY_B = "b" * 40


@pytest.fixture
def keyed(settings):
    settings.DUSK_AUDIT_KEYS = [f"k2026:{KEY_A}"]
    return settings


@pytest.fixture
def trail(db, keyed, manager, approver):
    approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    approved_plan(manager=manager, approver=approver, channels=[ChannelFactory()])
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == 6 and {e.key_id for e in events} == {"k2026"}
    assert verify_chain() == []
    return events


def _verify() -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="tampered"):
        call_command("verify_audit_chain", stderr=err)
    return err.getvalue()


def _rehash_forward_without_the_key(events, start: int) -> None:
    """What someone with write access to the database but not the key can do: edit an event,
    recompute every hash after it (plain SHA-256, dropping the key id), and move the chain head.
    (Queryset updates write the columns directly, as SQL would.)"""
    prev = events[start - 1].hash if start else "0" * 64
    for event in events[start:]:
        event.refresh_from_db()
        if event.pk == events[start].pk:
            event.after = {"state": "approved", "approved_by": "attacker"}
        event.prev_hash, event.key_id = prev, ""
        event.hash = hashlib.sha256(event.payload()).hexdigest()
        AuditEvent.objects.filter(pk=event.pk).update(
            after=event.after, prev_hash=event.prev_hash, key_id="", hash=event.hash
        )
        prev = event.hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=prev, key_id="", mac="")


def test_editing_an_event_and_rehashing_forward_without_the_key_is_detected(trail):
    _rehash_forward_without_the_key(trail, 2)
    # The links are consistent again: only the key tells the forgery apart.
    problems = _verify()
    assert f"event {trail[2].pk}: has no key id after keyed events (rewritten without the key)" in problems
    assert "previous hash does not match" not in problems
    assert "chain head: not signed (rewritten without the key)" in problems


def test_rehashing_the_whole_trail_without_the_key_is_detected(trail):
    _rehash_forward_without_the_key(trail, 0)
    problems = _verify()
    assert "chain head: not signed (rewritten without the key)" in problems


def test_forging_with_a_guessed_key_is_detected(trail, settings):
    settings.DUSK_AUDIT_KEYS = [f"k2026:{'x' * 40}"]  # what a forger without the key would sign with
    with transaction.atomic():
        record_event(actor=None, action="forged", obj=None)
    settings.DUSK_AUDIT_KEYS = [f"k2026:{KEY_A}"]
    problems = _verify()
    assert "contents do not match its hash (edited)" in problems
    assert "chain head: its MAC does not match" in problems


def test_after_rotation_old_events_still_verify_and_new_ones_use_the_new_key(trail, settings, capsys):
    settings.DUSK_AUDIT_KEYS = [f"k2027:{KEY_B}", f"k2026:{KEY_A}"]
    with transaction.atomic():
        record_event(actor=None, action="rotated", obj=None)
    assert AuditEvent.objects.order_by("-id").values_list("key_id", flat=True).first() == "k2027"
    call_command("verify_audit_chain")
    assert "Audit trail intact: 7 events." in capsys.readouterr().out


def test_a_retired_key_that_is_dropped_too_early_is_named(trail, settings):
    settings.DUSK_AUDIT_KEYS = [f"k2027:{KEY_B}"]
    problems = _verify()
    assert "signed with key 'k2026', which DUSK_AUDIT_KEYS does not hold" in problems


def test_events_written_before_the_chain_was_keyed_keep_verifying(db, keyed):
    # Two events as the unkeyed chain wrote them (plain SHA-256, no key id), then the
    # migration seals the head, then keyed events follow.
    prev = "0" * 64
    with transaction.atomic():
        for action in ("old.one", "old.two"):
            event = AuditEvent(
                at=datetime(2026, 1, 1, tzinfo=UTC), actor_label="system", action=action, object_type="", object_id=""
            )
            event.prev_hash = prev
            event.hash = event.compute_hash()
            event.save(force_insert=True)
            prev = event.hash
        AuditChainHead.objects.update_or_create(pk=1, defaults={"last_hash": prev, "count": 2, "key_id": "", "mac": ""})
    assert verify_chain() == ["chain head: not signed (rewritten without the key)"]
    seal_chain_head()
    assert verify_chain() == []
    with transaction.atomic():
        record_event(actor=None, action="new.one", obj=None)
    assert verify_chain() == []
    # Editing a legacy event and re-hashing it is caught by the keyed event that seals it.
    legacy = AuditEvent.objects.get(action="old.two")
    legacy.action = "old.changed"
    legacy.hash = legacy.compute_hash()
    AuditEvent.objects.filter(pk=legacy.pk).update(action="old.changed", hash=legacy.hash)
    assert any("previous hash does not match" in p for p in verify_chain())


@pytest.mark.parametrize(
    ("keys", "expected"),
    [([], "dusk.E201"), (["nocolon"], "dusk.E202"), (["k1:short"], "dusk.W201"), ([f"k1:{KEY_A}"], None)],
)
def test_the_deploy_check_wants_a_real_audit_key(settings, keys, expected):
    settings.DUSK_AUDIT_KEYS = keys
    found = {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith(("dusk.E20", "dusk.W20"))}
    assert found == ({expected} if expected else set())
