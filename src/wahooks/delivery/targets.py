"""Which webhook URLs wahooks may deliver to: the guard against server-side request forgery.

The same policy judges every other URL wahooks fetches or hands to an engine to fetch (the media
URLs of send-image/document/video/audio): those checks pass their own `label` ("media URL"), so
their messages name what was refused.

A webhook URL is user input that makes the server open a connection, so by default wahooks only
delivers to public addresses. One rule, `TargetPolicy.check_address`, is enforced at three points:

* create time: `TargetPolicy.check_url_resolving` validates the URL and what its name resolves to
  now, so the API can answer 400 with the reason (`TargetRefused` is a `BadRequest`);
* connect time: the delivery client (`wahooks.delivery.http_client`) resolves a name when it
  opens a connection and checks every address with `check_address` before connecting, so a name
  re-pointed at 127.0.0.1 after creation (DNS rebinding) is refused; IP-literal hosts are checked
  the same way.

`--allow-private-targets` (`WAHOOKS_ALLOW_PRIVATE_TARGETS=true`) builds a policy that refuses
nothing, for local development and deliveries inside a private network.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address, ip_network
from typing import NamedTuple

from yarl import URL

from wahooks.errors import BadRequest

__all__ = [
    "InvalidTargetURL",
    "TargetPolicy",
    "TargetRefused",
]

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048

WEBHOOK_URL = "webhook URL"
"""The default label of the URL checked; a media URL passes its own, and its own hint."""
_HINT = (
    "wahooks only delivers to public addresses unless started with --allow-private-targets "
    "(or WAHOOKS_ALLOW_PRIVATE_TARGETS=true)"
)
_PASS_ON_HINT = (
    "wahooks only fetches or passes on public addresses unless started with "
    "--allow-private-targets (or WAHOOKS_ALLOW_PRIVATE_TARGETS=true)"
)


class TargetRefused(BadRequest):
    """wahooks does not deliver to this webhook URL."""

    def __init__(
        self, message: str | None = None, *, address: str | None = None, category: str = "policy"
    ) -> None:
        super().__init__(message)
        self.address = address  # the offending IP address or host name, when there is one
        self.category = category  # short slug for logs and metrics: "loopback", "private", ...


class InvalidTargetURL(TargetRefused):
    """The webhook URL is not a valid http(s) URL."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, category="invalid-url")


class _Refusal(NamedTuple):
    category: str
    phrase: str  # completes "<address> is ..."


_RULES = tuple(
    (ip_network(network), _Refusal(category, phrase))
    for network, category, phrase in (
        # Metadata endpoints first: they sit inside link-local, CGNAT and ULA ranges, and the
        # specific reason is the useful one.
        ("169.254.169.254/32", "metadata", "a cloud metadata address"),
        ("100.100.100.200/32", "metadata", "a cloud metadata address (Alibaba Cloud)"),
        ("fd00:ec2::254/128", "metadata", "a cloud metadata address (AWS, IPv6)"),
        # Linux connects 0.0.0.0 to the local host, so "this network" is as bad as loopback.
        ("0.0.0.0/8", "unspecified", 'an unspecified ("this host") address'),
        ("::/128", "unspecified", "the unspecified address"),
        ("127.0.0.0/8", "loopback", "a loopback address"),
        ("::1/128", "loopback", "a loopback address"),
        ("10.0.0.0/8", "private", "a private (RFC 1918) address"),
        ("172.16.0.0/12", "private", "a private (RFC 1918) address"),
        ("192.168.0.0/16", "private", "a private (RFC 1918) address"),
        ("fc00::/7", "private", "a private (unique local, RFC 4193) address"),
        ("fec0::/10", "private", "a private (deprecated site-local) address"),
        ("100.64.0.0/10", "cgnat", "a shared (carrier-grade NAT, RFC 6598) address"),
        ("169.254.0.0/16", "link-local", "a link-local address"),
        ("fe80::/10", "link-local", "a link-local address"),
        ("224.0.0.0/4", "multicast", "a multicast address"),
        ("ff00::/8", "multicast", "a multicast address"),
        ("255.255.255.255/32", "broadcast", "the broadcast address"),
        ("240.0.0.0/4", "reserved", "a reserved (240.0.0.0/4) address"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
# Deprecated since 2006 and unroutable, so refused even when the embedded address is public.
_COMPATIBLE = "an IPv4-compatible IPv6 address"
_SPECIAL = _Refusal("special", "a special-purpose address that is not globally routable")
_NOT_AN_ADDRESS = _Refusal("invalid", "not an IP address")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog"})
# Suffixes reserved for names that only mean something inside a private network.
_PRIVATE_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa")

# What inet_aton (and so getaddrinfo) may read as IPv4: dot-separated decimal, octal or hex
# parts. An all-numeric name is never a DNS name (no top-level domain is numeric).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*", re.IGNORECASE)
_HOSTNAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _classify(addr: IPv4Address | IPv6Address) -> _Refusal | None:
    """Why `addr` is refused, or None when it is a public address."""
    for network, refusal in _RULES:
        if addr in network:
            return refusal
    carried = _embedded_ipv4(addr) if isinstance(addr, IPv6Address) else None
    if carried is not None:
        # The kernel or a translator on the path delivers these to the embedded IPv4 address,
        # so ::ffff:127.0.0.1 is loopback and ::ffff:8.8.8.8 is as public as 8.8.8.8.
        embedded, kind = carried
        inner = _classify(embedded)
        if inner is None and kind != _COMPATIBLE:
            return None
        inner = inner or _SPECIAL
        return _Refusal(inner.category, f"{kind} embedding {embedded}, {inner.phrase}")
    if addr.is_reserved or not addr.is_global:
        return _SPECIAL
    return None


def _embedded_ipv4(addr: IPv6Address) -> tuple[IPv4Address, str] | None:
    """The IPv4 address `addr` carries and the kind of carrier, or None."""
    low32 = IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped, "an IPv4-mapped IPv6 address"
    if addr in _NAT64:
        return low32, "a NAT64 address"
    if addr.sixtofour is not None:
        return addr.sixtofour, "a 6to4 address"
    if int(addr) >> 32 == 0:  # :: and ::1 are matched by _RULES before this is asked
        return low32, _COMPATIBLE
    return None


def _classify_text(ip: str) -> _Refusal | None:
    try:
        return _classify(ip_address(ip))
    except ValueError:
        return _NOT_AN_ADDRESS


def _classify_name(host: str) -> _Refusal | None:
    name = host.rstrip(".").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return _Refusal("loopback", "a loopback name")
    if name in _METADATA_NAMES:
        return _Refusal("metadata", "a cloud metadata name")
    if name.endswith(_PRIVATE_SUFFIXES):
        return _Refusal("private", "a name reserved for private networks")
    return None


def _parse(url: str, label: str) -> URL:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTargetURL(f"{label} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidTargetURL(f"{label} must not contain spaces or control characters")
    try:
        parsed = URL(url)
    except ValueError as exc:
        raise InvalidTargetURL(f"{label} is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidTargetURL(f"{label} must start with http:// or https://")
    if not parsed.host:
        raise InvalidTargetURL(f"{label} has no host")
    if parsed.user is not None or parsed.password is not None:
        # aiohttp would silently turn these into a Basic Authorization header, and the URL is
        # stored and shown in listings and logs, so the secret would leak. Webhooks are
        # authenticated by their signature instead.
        raise InvalidTargetURL(f"{label} must not contain a user name or password")
    if parsed.explicit_port == 0:
        raise InvalidTargetURL(f"{label} port must be between 1 and 65535")
    # The fragment is never sent, so keeping it would only mislead whoever reads the URL back.
    return parsed.with_fragment(None)


def _ip_literal(host: str, label: str = WEBHOOK_URL) -> IPv4Address | IPv6Address | None:
    """The address an IP-literal host means, including the legacy forms inet_aton accepts
    (2130706433, 0x7f.1, 127.1, 0177.0.0.1), which some resolvers turn into an address."""
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            raise InvalidTargetURL(f"{label} host {host} is not a valid IPv6 address") from None
    bare = host.rstrip(".")
    if not _NUMERIC_HOST.fullmatch(bare):
        return None
    try:
        return IPv4Address(socket.inet_aton(bare))
    except OSError:
        raise InvalidTargetURL(f"{label} host {host} is not a valid IPv4 address") from None


def _check_hostname_syntax(raw_host: str, label: str) -> None:
    name = raw_host.rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOSTNAME.fullmatch(label) for label in labels):
        raise InvalidTargetURL(f"{label} host {raw_host} is not a valid host name")


def _refused(
    lead: str, address: str, refusal: _Refusal, label: str = WEBHOOK_URL
) -> TargetRefused:
    hint = _HINT if label == WEBHOOK_URL else _PASS_ON_HINT
    return TargetRefused(
        f"{lead}{refusal.phrase}; {hint}", address=address, category=refusal.category
    )


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Where webhooks may be delivered. `allow_private=True` refuses no address or name."""

    allow_private: bool = False

    def check_address(self, ip: str) -> None:
        """Raise TargetRefused, naming the reason, if wahooks must not connect to `ip`."""
        if self.allow_private:
            return
        refusal = _classify_text(ip)
        if refusal is not None:
            raise _refused(f"{ip} is ", ip, refusal)

    def check_url(self, url: str, *, label: str = WEBHOOK_URL) -> str:
        """Validate `url` without any I/O and return it normalised.

        Refuses malformed URLs (InvalidTargetURL), IP-literal hosts whose address is refused and
        names that are local by definition (localhost, *.internal, ...). Numeric IPv4 hosts come
        back as a canonical dotted quad, so what is stored is what aiohttp connects to. Names are
        not resolved: that is `check_url_resolving`, and the connector checks again at connect
        time.
        """
        parsed = _parse(url.strip(), label)
        host = parsed.host
        assert host is not None  # _parse refuses URLs without a host
        literal = _ip_literal(host, label)
        if literal is None:
            raw_host = parsed.raw_host or host
            _check_hostname_syntax(raw_host, label)
            refusal = None if self.allow_private else _classify_name(raw_host)
            if refusal is not None:
                raise _refused(f"{label} host {raw_host} is ", raw_host, refusal, label)
            return str(parsed)
        refusal = None if self.allow_private else _classify(literal)
        if refusal is not None:
            said = "" if str(literal) == host else f"{literal}, "
            raise _refused(f"{label} host {host} is {said}", str(literal), refusal, label)
        if isinstance(literal, IPv4Address) and str(literal) != host:
            parsed = parsed.with_host(str(literal))
        return str(parsed)

    async def check_url_resolving(
        self, url: str, *, timeout: float = 2.0, label: str = WEBHOOK_URL
    ) -> str:
        """`check_url`, then refuse the URL if ANY address its name resolves to now is refused.

        This is the create-time check. A name that does not resolve, or not within `timeout`
        seconds, is accepted: DNS may be fixed later (or only resolve inside the deployment),
        and every delivery is checked again at connect time by the connector, so accepting it
        opens no hole. A timed-out lookup keeps running in the executor until the system
        resolver gives up; its answer is ignored.
        """
        normalised = self.check_url(url, label=label)
        parsed = URL(normalised)
        host = parsed.raw_host
        if self.allow_private or host is None or _ip_literal(host) is not None:
            return normalised  # nothing is refused, or an IP literal check_url has judged
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, parsed.port, type=socket.SOCK_STREAM), timeout
            )
        except OSError:  # socket.gaierror, and TimeoutError from wait_for
            logger.info(
                "webhook host did not resolve at create time; accepted",
                extra={"action": "target_unresolved", "host": host},
            )
            return normalised
        for family, _, _, _, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                refusal = _classify_text(str(sockaddr[0]))
                if refusal is not None:
                    lead = f"{label} host {host} resolves to {sockaddr[0]}, "
                    raise _refused(lead, str(sockaddr[0]), refusal, label)
        return normalised
