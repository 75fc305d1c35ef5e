"""Which hosts Dusk may connect to on a channel's behalf: public addresses only.

A channel names a host (its API base URL, its IMAP mailbox) that Dusk's workers then call with
the channel's credential. Taken as given, that lets whoever edits a channel make the worker reach
the cloud metadata service (169.254.169.254), the database, or any service on the private
network. So a host is resolved and every address it resolves to must be public:

- at save time (`check_url`, called by the channel's validation), so a bad URL is refused with a
  sentence the person can act on;
- again at connect time (`connect`, used by the HTTP transport of the outbox and the pollers, and
  by the IMAP poller), and the socket is opened to the very address that was checked, so a name
  that resolved to a public address when saved and to 127.0.0.1 now (DNS rebinding) gets nowhere.

Addresses are checked after resolution, which also catches the spellings a URL validator lets
through: decimal (http://2130706433/), octal (http://0177.0.0.1/), IPv4-mapped IPv6
(http://[::ffff:127.0.0.1]/) and names that resolve to loopback (localhost, *.localhost).

``allow_private`` (DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS) lets loopback and private addresses through
for development, the demo's sandbox and the tests, and plain http and imap with them; link-local,
multicast, unspecified and reserved addresses are refused even then. A deploy check refuses the
setting in production.

Django-free: the adapters use it too.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# imap:// is STARTTLS (core/mailbox.py; its clear-text option is for loopback only).
SECURE_SCHEMES = {"https": 443, "imaps": 993, "imap": 143}
PLAIN_SCHEMES = {"http": 80}
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def gettext_noop(message: str) -> str:
    """Marks a sentence for translation without importing Django (makemessages extracts
    gettext_noop calls); Channel.clean() translates it."""
    return message


class HostRefused(ValueError):
    """The host is not one Dusk may connect to. ``template`` and ``params`` let Django code
    translate the sentence (this module stays Django-free)."""

    def __init__(self, template: str, **params: str) -> None:
        super().__init__(template % params if params else template)
        self.template = template
        self.params = params


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def check_address(address: str | IPAddress, *, allow_private: bool) -> None:
    """HostRefused unless Dusk may connect to this address."""
    ip = _unmapped(ipaddress.ip_address(address) if isinstance(address, str) else address)
    if ip.is_global and not ip.is_multicast:
        return
    never = ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved
    if allow_private and not never and (ip.is_loopback or ip.is_private):
        return
    raise HostRefused(
        gettext_noop("%(address)s is not a public address; Dusk connects to public hosts only."), address=str(ip)
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (OSError when it resolves to none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


def check_host(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of `host`, each of them allowed; HostRefused if any is not (a name with one
    private address among public ones would let the attacker pick)."""
    host = host.strip("[]")
    if not host:
        raise HostRefused(gettext_noop("The URL names no host."))
    addresses = resolve(host, port)
    for address in addresses:
        try:
            check_address(address, allow_private=allow_private)
        except HostRefused:
            raise HostRefused(
                gettext_noop(
                    "%(host)s resolves to %(address)s, which is not a public address; "
                    "Dusk connects to public hosts only."
                ),
                host=host,
                address=address,
            ) from None
    return addresses


def check_url(url: str, *, allow_private: bool) -> None:
    """HostRefused unless `url` is an https (or imaps) URL of a public host; plain http and imap,
    and private hosts, only with `allow_private`. A name that does not resolve now is accepted
    here (it may be created later) and checked again at every connection."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise HostRefused(gettext_noop("The URL cannot be read.")) from None
    scheme = parts.scheme.lower()
    if scheme not in SECURE_SCHEMES and not (allow_private and scheme in PLAIN_SCHEMES):
        raise HostRefused(gettext_noop("Use an https:// URL (or imaps:// for a mailbox)."))
    host = parts.hostname or ""
    try:
        check_host(host, port or SECURE_SCHEMES.get(scheme) or PLAIN_SCHEMES[scheme], allow_private=allow_private)
    except OSError:
        if _looks_numeric(host):
            # A number the resolver refuses is no host name either.
            raise HostRefused(gettext_noop("%(host)s is not a host name or a valid address."), host=host) from None


def _looks_numeric(host: str) -> bool:
    return bool(host) and all(part.isdigit() or part.lower().startswith("0x") for part in host.split("."))


def connect(host: str, port: int, timeout: float | None, *, allow_private: bool) -> socket.socket:
    """A TCP connection to `host`, opened to an address just checked (not resolved again)."""
    last: OSError | None = None
    for address in check_host(host, port, allow_private=allow_private):
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            last = exc
    raise last or OSError(f"cannot connect to {host}:{port}")


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend with every TCP connection opened by `connect`."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = check_host(host, port, allow_private=self.allow_private)
        except (OSError, HostRefused) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception = httpcore.ConnectError(f"cannot connect to {host}:{port}")
        for address in addresses:
            # Connect to the address just checked, not to the name (resolved again it could
            # point elsewhere); TLS is started afterwards with the name, as without us.
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport whose connections go only to allowed hosts (never through a proxy
    taken from the environment: the address checked is the one connected to). TLS still
    verifies the certificate against the host name."""

    def __init__(self, *, allow_private: bool, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx builds its pool in __init__ without a way to pass a network backend: the same
        # pool again, with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_private=allow_private),
        )
