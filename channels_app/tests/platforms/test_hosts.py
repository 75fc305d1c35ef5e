"""Hostile platform hosts: refused when a channel is saved, and never connected to by the outbox
or the pollers, even when the row was written before the rule (a listening socket sees nothing)."""

import socket
from collections.abc import Iterator

import pytest
from django.core import checks
from rest_framework.test import APIClient

from channels_app.core import hosts
from channels_app.models import Channel, OutboxMessage, OutboxState
from channels_app.plans.services.preflight import check_connection, check_connections
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.platforms.services.polling import poll_email_channel, poll_youtube_channel
from channels_app.tests.support.inbound_helpers import inbound, platform_channel, receive, sunset

pytestmark = pytest.mark.django_db

HOSTILE_BASE_URLS = [
    "http://api.example.com",  # plain http in production
    "ftp://api.example.com",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "https://127.0.0.1",
    "https://127.0.0.1:5432",
    "https://127.1.2.3",
    "https://localhost",
    "https://localhost.:8080",
    "https://0.0.0.0",
    "https://[::1]",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://[0:0:0:0:0:ffff:a9fe:a9fe]",
    "https://2130706433",  # 127.0.0.1 in decimal
    "https://0x7f000001",  # ...in hex
    "https://0177.0.0.1",  # ...in octal
    "https://017700000001",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fe80::1]",
    "https://10.0.0.5",
    "https://172.16.3.4",
    "https://192.168.1.1",
    "https://100.64.0.1",  # carrier-grade NAT
    "https://[fd00::1]",
    "https://224.0.0.1",
    "https://240.0.0.1",
]
HOSTILE_MAILBOXES = [
    "imaps://127.0.0.1/INBOX",
    "imaps://localhost/INBOX",
    "imaps://[::1]/INBOX",
    "imaps://[::ffff:127.0.0.1]/INBOX",
    "imaps://2130706433/INBOX",
    "imaps://0177.0.0.1/INBOX",
    "imaps://169.254.169.254/INBOX",
    "imap://10.1.2.3/INBOX",
    "imaps://192.168.0.10:993/INBOX",
]


@pytest.fixture
def public_hosts_only(settings):
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = False


@pytest.mark.parametrize("url", HOSTILE_BASE_URLS)
def test_a_hostile_base_url_is_refused(manager, public_hosts_only, url):
    client = APIClient()
    client.force_authenticate(manager)
    response = client.post(
        "/api/v1/channels/", {"kind": "discourse", "name": "Forum", "api_base_url": url}, format="json"
    )
    assert response.status_code == 400, (url, response.content)
    assert not Channel.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_MAILBOXES)
def test_a_hostile_mailbox_is_refused(manager, public_hosts_only, url):
    client = APIClient()
    client.force_authenticate(manager)
    body = {
        "kind": "email",
        "name": "Mail",
        "handle": "support@brand.example",
        "api_base_url": url,
        "api_token_env": "DUSK_CHANNEL_TEST_MAILBOX",
    }
    response = client.post("/api/v1/channels/", body, format="json")
    assert response.status_code == 400, (url, response.content)
    assert not Channel.objects.exists()


def test_a_public_https_url_is_accepted(manager, public_hosts_only):
    client = APIClient()
    client.force_authenticate(manager)
    response = client.post(
        "/api/v1/channels/",
        {"kind": "discourse", "name": "Forum", "api_base_url": "https://1.1.1.1"},
        format="json",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "fd00::1", "0.0.0.0"]
)
def test_the_guard_refuses_private_addresses(address):
    with pytest.raises(hosts.HostRefused):
        hosts.check_address(address, allow_private=False)


def test_development_allows_loopback_but_never_link_local():
    hosts.check_address("127.0.0.1", allow_private=True)
    hosts.check_address("192.168.1.1", allow_private=True)
    with pytest.raises(hosts.HostRefused):
        hosts.check_address("169.254.169.254", allow_private=True)


# --- at connect time: a listening socket sees nothing ------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.5)
    yield sock
    sock.close()


def _no_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except TimeoutError:
        return True
    conn.close()
    return False


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"])
def test_the_outbox_never_connects_to_a_private_host_saved_before_the_rule(
    manager, approver, platform_secrets, listener, settings, host
):
    port = listener.getsockname()[1]
    channel = platform_channel("x")  # the sandbox's X: the preflight at approval reaches it
    sunset(manager=manager, approver=approver, channels=[channel])
    # Then the address, written straight to the row as by a release before the rule.
    Channel.objects.filter(pk=channel.pk).update(api_base_url=f"http://{host}:{port}")
    channel.refresh_from_db()
    receive(channel, inbound("1001"))
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = False
    send_due_replies(worker_id="test")
    assert _no_connection(listener)
    row = OutboxMessage.objects.get()
    assert row.state != OutboxState.SENT
    assert "not a public address" in row.last_error


def test_the_pollers_never_connect_to_a_private_host(platform_secrets, listener, settings, monkeypatch):
    port = listener.getsockname()[1]
    monkeypatch.setenv("DUSK_CHANNEL_TEST_MAILBOX", "pw")
    youtube = platform_channel("youtube", f"http://localhost:{port}")
    mailbox = platform_channel(
        "email", f"imap://support@127.0.0.1:{port}/INBOX?tls=none", api_token_env="DUSK_CHANNEL_TEST_MAILBOX"
    )
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = False
    poll_youtube_channel(channel_id=youtube.pk)
    poll_email_channel(channel_id=mailbox.pk)
    assert _no_connection(listener)
    youtube.refresh_from_db()
    mailbox.refresh_from_db()
    assert "not a public address" in youtube.poll_error
    assert "not a public address" in mailbox.poll_error


def test_the_connection_test_never_connects_to_a_private_host(platform_secrets, listener, settings, monkeypatch):
    # The preflight and the channel page's Test connection check the address they connect to,
    # as the outbox does: a name that resolved to a public address at save time may not now.
    port = listener.getsockname()[1]
    monkeypatch.setenv("DUSK_CHANNEL_TEST_MAILBOX", "pw")
    x = platform_channel("x", f"http://localhost:{port}")
    mailbox = platform_channel(
        "email", f"imap://support@127.0.0.1:{port}/INBOX?tls=none", api_token_env="DUSK_CHANNEL_TEST_MAILBOX"
    )
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = False
    results = [check_connection(x), check_connection(mailbox)]
    # Submission, approval, the freeze step and the plan pages test through check_connections.
    results += check_connections([x, mailbox]) + check_connections([x], cached=True)
    assert _no_connection(listener)
    assert [result.ok for result in results] == [False] * 5
    assert all("not a public address" in result.problem for result in results), results


def test_production_refuses_private_platform_hosts(settings):
    settings.DUSK_PRODUCTION = True
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = True
    assert "dusk.E101" in {m.id for m in checks.run_checks(include_deployment_checks=True)}
    settings.DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = False
    assert "dusk.E101" not in {m.id for m in checks.run_checks(include_deployment_checks=True)}
