"""Exactly-once email recording over a real SMTP server."""

import pytest
from django.core.mail import EmailMessage

from channels_app.core.mail import send_recorded


def _items(n: int):
    return [
        (
            i,
            EmailMessage(
                subject=f"Notice {i}",
                body=".starts with a dot\n",
                to=[f"p{i}@example.com"],
                headers={"Message-ID": f"<m{i}@dusk.invalid>"},
            ),
        )
        for i in range(n)
    ]


def _recorder(recorded: list, fail_on=None, refuse=()):
    def record(keys):
        if fail_on is not None and fail_on in keys:
            raise RuntimeError("database went away")
        recorded.extend(keys)
        return {k for k in keys if k not in refuse}

    return record


def test_each_delivered_message_is_recorded_once(smtp_settings):
    recorded: list[int] = []
    sent = send_recorded(_items(3), record_sent=_recorder(recorded), record_refused=lambda k, e: None, group_size=2)
    assert sent == 3
    assert recorded == [0, 1, 2]
    assert sorted(m.message["Message-ID"] for m in smtp_settings.messages) == [f"<m{i}@dusk.invalid>" for i in range(3)]
    # Dot-stuffing is undone by the server: the body arrives intact.
    assert smtp_settings.messages[0].message.get_content().startswith(".starts with a dot")


def test_a_group_whose_recording_fails_is_never_delivered(smtp_settings):
    recorded: list[int] = []
    with pytest.raises(RuntimeError):
        send_recorded(
            _items(5), record_sent=_recorder(recorded, fail_on=2), record_refused=lambda k, e: None, group_size=2
        )
    # Group [0, 1] went out and was recorded; group [2, 3] was staged but its
    # recording failed, so the servers never got the end marker and dropped
    # both; message 4 was not attempted.
    assert recorded == [0, 1]
    assert sorted(m.message["Message-ID"] for m in smtp_settings.messages) == ["<m0@dusk.invalid>", "<m1@dusk.invalid>"]


def test_a_message_another_sender_took_over_is_not_delivered(smtp_settings):
    recorded: list[int] = []
    sent = send_recorded(_items(3), record_sent=_recorder(recorded, refuse={1}), record_refused=lambda k, e: None)
    assert sent == 2
    assert sorted(m.message["Message-ID"] for m in smtp_settings.messages) == ["<m0@dusk.invalid>", "<m2@dusk.invalid>"]


def test_refusals_are_reported_not_recorded_as_sent(smtp_settings, smtp_server):
    smtp_server.reject_next_rcpt("550 5.1.1 No such user")
    recorded, refused = [], []
    sent = send_recorded(_items(2), record_sent=_recorder(recorded), record_refused=lambda k, e: refused.append((k, e)))
    assert sent == 1
    assert recorded == [1]
    assert refused[0][0] == 0 and "recipient refused" in refused[0][1]
    assert len(smtp_settings.messages) == 1


def test_other_backends_record_after_sending(settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    recorded: list[int] = []
    assert send_recorded(_items(2), record_sent=_recorder(recorded), record_refused=lambda k, e: None) == 2
    assert recorded == [0, 1]
    assert len(mailoutbox) == 2
