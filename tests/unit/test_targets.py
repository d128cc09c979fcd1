"""The target rule as a pure policy: which URLs and addresses wahooks delivers to, and why not."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.delivery.targets import (
    InvalidTargetURL,
    TargetPolicy,
    TargetRefused,
)
from wahooks.errors import BadRequest

STRICT = TargetPolicy(allow_private=False)
OPEN = TargetPolicy(allow_private=True)
HINT = "--allow-private-targets"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://example.com/hook", "https://example.com/hook"),
        ("HTTP://Example.COM:8080/a?b=1", "http://example.com:8080/a?b=1"),
        ("https://example.com/hook#fragment", "https://example.com/hook"),
        ("  https://example.com/hook\n", "https://example.com/hook"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://hooks.example.com:65535/x", "https://hooks.example.com:65535/x"),
        ("https://under_score.example.com/", "https://under_score.example.com/"),
        ("http://8.8.8.8/", "http://8.8.8.8/"),
        ("http://8.8.8.8./", "http://8.8.8.8/"),
        ("http://134744072/", "http://8.8.8.8/"),  # legacy numeric forms become a dotted quad
        ("http://0x8.0x8.0x8.0x8/", "http://8.8.8.8/"),
        ("http://[2606:4700:4700::1111]:8443/", "http://[2606:4700:4700::1111]:8443/"),
        ("http://[::ffff:8.8.8.8]/", "http://[::ffff:808:808]/"),
        ("http://[64:ff9b::8.8.8.8]/", "http://[64:ff9b::808:808]/"),
        ("http://[2002:808:808::1]/", "http://[2002:808:808::1]/"),
    ],
)
def test_allowed_urls_come_back_normalised(url: str, normalised: str) -> None:
    assert STRICT.check_url(url) == normalised
    assert OPEN.check_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "category", "words"),
    [
        ("http://127.0.0.1:8000/", "loopback", "127.0.0.1 is a loopback address"),
        ("http://127.1/", "loopback", "127.1 is 127.0.0.1, a loopback address"),
        ("http://2130706433/", "loopback", "is 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "loopback", "is 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "loopback", "is 127.0.0.1, a loopback address"),
        ("http://127.0.0.1./", "loopback", "a loopback address"),
        ("http://[::1]/", "loopback", "::1 is a loopback address"),
        ("http://0.0.0.0/", "unspecified", "unspecified"),
        ("http://[::]/", "unspecified", "unspecified"),
        ("http://10.0.0.5/", "private", "10.0.0.5 is a private (RFC 1918) address"),
        ("http://172.16.1.1/", "private", "private (RFC 1918)"),
        ("http://172.31.255.254/", "private", "private (RFC 1918)"),
        ("http://192.168.1.10/", "private", "private (RFC 1918)"),
        ("http://[fd12:3456::1]/", "private", "private (unique local, RFC 4193)"),
        ("http://100.64.0.1/", "cgnat", "carrier-grade NAT"),
        ("http://169.254.10.1/", "link-local", "a link-local address"),
        ("http://[fe80::1]/", "link-local", "a link-local address"),
        ("http://[fe80::1%25eth0]/", "link-local", "a link-local address"),
        ("http://169.254.169.254/latest/meta-data/", "metadata", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "metadata", "cloud metadata"),
        ("http://100.100.100.200/", "metadata", "cloud metadata"),
        ("http://224.0.0.1/", "multicast", "a multicast address"),
        ("http://[ff02::1]/", "multicast", "a multicast address"),
        ("http://255.255.255.255/", "broadcast", "the broadcast address"),
        ("http://240.0.0.1/", "reserved", "a reserved"),
        ("http://192.0.2.1/", "special", "not globally routable"),
        ("http://198.18.0.1/", "special", "not globally routable"),
        ("http://[2001:db8::1]/", "special", "not globally routable"),
        ("http://[::ffff:127.0.0.1]/", "loopback", "IPv4-mapped IPv6 address embedding 127.0.0.1"),
        ("http://[::ffff:10.1.2.3]/", "private", "embedding 10.1.2.3, a private (RFC 1918)"),
        ("http://[64:ff9b::169.254.169.254]/", "metadata", "NAT64 address embedding 169.254"),
        ("http://[2002:7f00:1::]/", "loopback", "6to4 address embedding 127.0.0.1"),
        ("http://[::127.0.0.1]/", "loopback", "IPv4-compatible IPv6 address embedding 127.0.0.1"),
        ("http://[::8.8.8.8]/", "special", "IPv4-compatible"),
        ("http://localhost:3000/hook", "loopback", "localhost is a loopback name"),
        ("http://LOCALHOST./", "loopback", "loopback name"),
        ("http://api.localhost/", "loopback", "loopback name"),
        ("http://localhost.localdomain/", "loopback", "loopback name"),
        ("http://ip6-localhost/", "loopback", "loopback name"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata", "cloud metadata name"),
        ("http://db.internal/", "private", "reserved for private networks"),
        ("http://printer.local/", "private", "reserved for private networks"),
        ("http://nas.home.arpa/", "private", "reserved for private networks"),
    ],
)
def test_refused_urls_say_why(url: str, category: str, words: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        STRICT.check_url(url)
    assert not isinstance(caught.value, InvalidTargetURL)
    assert caught.value.category == category
    message = str(caught.value)
    assert message.startswith("webhook URL host ")
    assert words in message
    assert HINT in message and "WAHOOKS_ALLOW_PRIVATE_TARGETS=true" in message
    OPEN.check_url(url)  # allow_private lifts every address and name refusal


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("//example.com/hook", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///hook", "no host"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://example.com:0/", "port"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:http/", "not a valid URL"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("http://%31%32%37.0.0.1/", "not a valid host name"),
        ("http://bad..example.com/", "not a valid host name"),
        ("http://-bad.example.com/", "not a valid host name"),
        ("http://999.1.1.1/", "not a valid IPv4 address"),
        ("http://08.0.0.1/", "not a valid IPv4 address"),
        ("http://1.2.3.4.5/", "not a valid IPv4 address"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_malformed_urls_are_invalid_under_any_policy(url: str, words: str) -> None:
    for policy in (STRICT, OPEN):
        with pytest.raises(InvalidTargetURL) as caught:
            policy.check_url(url)
        assert words in str(caught.value)
        assert caught.value.category == "invalid-url"


def test_url_of_exactly_the_maximum_length_is_accepted() -> None:
    url = "https://example.com/"
    url += "a" * (2048 - len(url))
    assert STRICT.check_url(url) == url


def test_refusals_are_bad_requests_so_the_api_answers_400() -> None:
    assert issubclass(TargetRefused, BadRequest)
    assert issubclass(InvalidTargetURL, TargetRefused)
    with pytest.raises(BadRequest) as caught:
        STRICT.check_url("http://10.0.0.5/")
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("ip", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("10.255.255.255", "private"),
        ("172.16.0.0", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("fdff:ffff::1", "private"),
        ("100.127.255.255", "cgnat"),
        ("169.254.0.1", "link-local"),
        ("fe80::abcd", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("239.255.255.250", "multicast"),
        ("ff05::2", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("250.1.2.3", "reserved"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:192.168.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:c0a8:101::1", "private"),
        ("not-an-ip", "invalid"),
    ],
)
def test_check_address_refuses_with_a_category(ip: str, category: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        STRICT.check_address(ip)
    assert caught.value.category == category
    assert caught.value.address == ip
    assert str(caught.value).startswith(f"{ip} is ")
    OPEN.check_address(ip)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "11.0.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::101:101",
    ],
)
def test_check_address_allows_public_addresses(ip: str) -> None:
    STRICT.check_address(ip)


@given(st.integers(min_value=0, max_value=2**24 - 1))
def test_every_address_in_10_slash_8_is_refused_as_private(offset: int) -> None:
    ip = str(IPv4Address("10.0.0.0") + offset)
    with pytest.raises(TargetRefused, match=r"private \(RFC 1918\)"):
        STRICT.check_address(ip)
    with pytest.raises(TargetRefused, match="IPv4-mapped"):
        STRICT.check_address(f"::ffff:{ip}")


@given(st.integers(min_value=0, max_value=2**24 - 1))
def test_every_address_in_8_slash_8_is_allowed(offset: int) -> None:
    ip = IPv4Address("8.0.0.0") + offset
    STRICT.check_address(str(ip))
    STRICT.check_address(f"::ffff:{ip}")
    assert STRICT.check_url(f"http://{ip}/") == f"http://{ip}/"
    assert STRICT.check_url(f"http://{int(ip)}/") == f"http://{ip}/"


@given(st.ip_addresses())
def test_allow_private_refuses_no_address(ip: IPv4Address | IPv6Address) -> None:
    OPEN.check_address(str(ip))


@given(st.ip_addresses(v=4))
def test_a_mapped_ipv4_address_gets_the_same_verdict_as_the_address(ip: IPv4Address) -> None:
    verdicts: list[str | None] = []
    for text in (str(ip), f"::ffff:{ip}"):
        try:
            STRICT.check_address(text)
            verdicts.append(None)
        except TargetRefused as exc:
            verdicts.append(exc.category)
    assert verdicts[0] == verdicts[1]
