"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real
`wahooks serve`, a real receiver and SQLite. Every wait is on page state or on the API's answer,
never on time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from browser.conftest import create_account
from support.receiver import Receiver
from support.server import ServerProcess, wait_until

Shoot = Callable[[Page, str], None]
CONTACT = "14155550123@c.us"


def sign_in(page: Page, server: ServerProcess, token: str) -> None:
    page.goto(server.base_url + "/signin")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/connections$"))


def connect_in_browser(page: Page, name: str) -> str:
    """Create a connection named `name` from the connections page and link it with the sandbox's
    simulated scan; its id."""
    page.fill("input[name=name]", name)
    page.click("#create-connection")
    expect(page.locator("h1")).to_have_text(name)
    connection_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    page.click("#sandbox-scan")
    expect(page.locator("#status-badge")).to_have_text("connected")
    return connection_id


def settled(client: httpx.Client, webhook_id: str, status: str, count: int = 1) -> list[Any]:
    """The webhook's logs once `count` of them have `status` (asked of the API)."""
    def ready() -> list[Any] | None:
        logs: list[Any] = client.get(f"/webhooks/{webhook_id}/logs").json()
        return logs if sum(log["status"] == status for log in logs) >= count else None

    found: list[Any] = wait_until(ready, timeout=15)
    return found


def create_webhook(page: Page, server: ServerProcess, url: str, ordering: str = "none") -> str:
    page.goto(server.base_url + "/webhooks")
    page.fill("#new-webhook input[name=url]", url)
    page.check("#new-webhook input[name=events][value=message]")
    page.select_option("#new-webhook select[name=ordering]", ordering)
    page.click("#create-webhook")
    card = page.locator("article", has_text=url)
    expect(card).to_be_visible()
    webhook_id = (card.get_attribute("id") or "").removeprefix("w-")
    assert webhook_id
    return webhook_id


def test_a_users_day(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    context = open_browser()
    page = context.new_page()
    page.goto(server.base_url + "/")
    expect(page).to_have_url(re.compile(r"/signin$"))  # no session: the sign-in page
    shoot(page, "signin")
    sign_in(page, server, server.token)

    cookie = next(c for c in context.cookies() if c["name"] == "wahooks_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain http here; https gets Secure (see test_session_rules)
    assert cookie["expires"] > time.time() + 3600

    # A connection: the QR shows, and turns into "connected" by itself when the phone scans.
    page.fill("input[name=name]", "day")
    page.click("#create-connection")
    expect(page.locator("h1")).to_have_text("day")
    expect(page.locator("#qr")).to_be_visible()
    shoot(page, "connection-qr")
    connection_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    with server.client() as api, Receiver() as receiver:
        scanned = api.post(f"/connections/{connection_id}/sandbox/scan")
        assert scanned.status_code == 201, scanned.text
        expect(page.locator("#status-badge")).to_have_text("connected")
        expect(page.locator("#qr")).to_have_count(0)

        page.goto(server.base_url + "/connections")
        expect(page.locator(f"#c-{connection_id} .badge")).to_have_text("connected")
        shoot(page, "connections")

        webhook_id = create_webhook(page, server, receiver.url)
        shoot(page, "webhooks")

        # A contact writes: the message shows in its chat, and is delivered with one attempt.
        page.goto(f"{server.base_url}/connections/{connection_id}")
        page.fill("input[name=body]", "hello from the day")
        page.click("#sandbox-inbound")
        expect(page.locator(".messages")).to_contain_text("hello from the day")
        shoot(page, "connection")
        receiver.wait_for(1)
        delivered = settled(api, webhook_id, "delivered")[0]

        page.goto(server.base_url + "/deliveries")
        row = page.locator(f"#d-{delivered['id']}")
        expect(row).to_contain_text("delivered")
        row.locator("a").click()
        expect(page.locator("#delivery-status")).to_have_text("delivered")
        expect(page.locator("#attempts tr.attempt")).to_have_count(1)
        expect(page.locator("#attempts tr.attempt")).to_contain_text("200")
        shoot(page, "delivery")

        # The receiver fails: the live tail shows the new delivery, then its retries dead-letter.
        receiver.statuses = [500]
        page.goto(f"{server.base_url}/deliveries?webhook={webhook_id}")
        expect(page.locator("#live")).to_have_attribute("sse-connect", re.compile("tail"))
        # The stream's first bytes say it is open; only then is the next delivery "new".
        page.wait_for_function("() => document.querySelector('#live')['htmx-internal-data']"
                               "?.sseEventSource?.readyState === 1")
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "this one fails"})
        assert sent.status_code == 201, sent.text
        expect(page.locator("#live tr.delivery")).to_have_count(1)
        shoot(page, "deliveries-live")
        failed = next(log for log in settled(api, webhook_id, "failed") if log["status"] == "failed")

        page.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
        expect(page.locator("#delivery-status")).to_have_text("failed")
        expect(page.locator("#attempts tr.attempt")).to_have_count(3)
        expect(page.locator("#attempts")).to_contain_text("HTTP 500")
        shoot(page, "delivery-failed")

        # Redeliver it to a receiver that works again.
        receiver.statuses = [200]
        page.click("#redeliver")
        expect(page.locator(".flash.notice")).to_have_text("Redelivery enqueued")
        settled(api, webhook_id, "delivered", count=2)
        page.reload()
        expect(page.locator("#delivery-status")).to_have_text("delivered")
        expect(page.locator("#attempts tr.attempt")).to_have_count(4)

        # Filters live in the URL.
        page.goto(server.base_url + "/deliveries")
        page.select_option("select[name=webhook]", webhook_id)
        page.select_option("select[name=status]", "failed")
        page.click("#filter")
        expect(page).to_have_url(re.compile(r"status=failed"))
        expect(page.locator("#deliveries")).to_contain_text("No deliveries")
        page.select_option("select[name=status]", "delivered")
        page.click("#filter")
        expect(page).to_have_url(re.compile(rf"webhook={webhook_id}.*status=delivered"))
        expect(page.locator("#deliveries tr.delivery")).to_have_count(2)
        shoot(page, "deliveries")

    page.goto(server.base_url + "/tokens")
    page.fill("input[name=name]", "laptop")
    page.click("#create-token")
    expect(page.locator("#new-token-value")).to_have_text(re.compile(r"^wh_[0-9a-f]{48}$"))
    shoot(page, "tokens")

    page.goto(server.base_url + "/system")
    expect(page.locator("#database")).to_have_text("ok")
    expect(page.locator("#depth")).to_contain_text("delivered")
    shoot(page, "system")

    page.click("#signout")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.goto(server.base_url + "/connections")
    expect(page).to_have_url(re.compile(r"/signin$"))

    # A second account sees none of it, not even by address.
    other = context.new_page()
    sign_in(other, server, create_account(server, "bob"))
    expect(other.locator("tbody")).to_contain_text("No connections yet")
    other.goto(server.base_url + "/webhooks")
    expect(other.locator("main")).to_contain_text("No webhooks yet")
    other.goto(server.base_url + "/deliveries")
    expect(other.locator("#deliveries")).to_contain_text("No deliveries")
    other.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
    expect(other.locator("#problem")).to_contain_text("do not own")
    other.goto(f"{server.base_url}/connections/{connection_id}")
    expect(other.locator("#problem")).to_contain_text("not")
    shoot(other, "another-account")


def test_without_javascript_creating_a_webhook_and_redelivering_work(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser(javascript=False).new_page()
    sign_in(page, server, server.token)
    page.fill("input[name=name]", "plain")
    page.click("#create-connection")
    expect(page.locator("h1")).to_have_text("plain")
    connection_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    expect(page.locator("#sandbox-scan")).to_be_visible()
    page.click("#sandbox-scan")
    expect(page.locator("#status-badge")).to_have_text("connected")

    with server.client() as api, Receiver(statuses=[500]) as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        page.goto(f"{server.base_url}/connections/{connection_id}")
        page.fill("input[name=body]", "no script needed")
        page.click("#sandbox-inbound")
        expect(page.locator(".messages")).to_contain_text("no script needed")
        failed = settled(api, webhook_id, "failed")[0]

        receiver.statuses = [200]
        page.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
        page.click("#redeliver")
        expect(page.locator(".flash.notice")).to_have_text("Redelivery enqueued")
        settled(api, webhook_id, "delivered")
        page.reload()
        expect(page.locator("#delivery-status")).to_have_text("delivered")
        shoot(page, "delivery-without-javascript")


def _signed_in(server: ServerProcess, token: str, **headers: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=30)
    answer = client.post("/signin", data={"token": token}, headers=headers)
    assert answer.status_code == 303, answer.text
    return client


def test_session_rules(server: ServerProcess) -> None:
    """CSRF, cookie flags, and a revoked token ending its sessions."""
    assert server.token is not None
    with server.client() as api:
        # Cookie flags, plain http and behind an https proxy.
        plain = _signed_in(server, server.token)
        flags = plain.cookies.jar
        set_cookie = plain.post("/signin", data={"token": server.token}).headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie.replace("Strict", "strict")
        assert "Max-Age=" in set_cookie and "Secure" not in set_cookie
        secure = httpx.post(server.base_url + "/signin", data={"token": server.token},
                            headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in secure.headers["set-cookie"]
        assert flags

        # A form without its CSRF token, or with a wrong one, is refused and changes nothing.
        before = len(api.get("/connections").json())
        for data in ({"name": "forged"}, {"name": "forged", "csrf": "0" * 64}):
            refused = plain.post("/connections", data=data)
            assert refused.status_code == 403
            assert "CSRF" in refused.text
        assert len(api.get("/connections").json()) == before
        page = plain.get("/connections")
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert csrf is not None
        made = plain.post("/connections", data={"name": "real", "csrf": csrf.group(1)})
        assert made.status_code == 303
        assert len(api.get("/connections").json()) == before + 1

        # A token revoked through the API ends the dashboard sessions made with it.
        new = api.post("/tokens", json={"name": "short-lived"}).json()
        session = _signed_in(server, new["token"])
        assert session.get("/tokens").status_code == 200
        assert api.delete(f"/tokens/{new['id']}").status_code == 200
        ended = session.get("/tokens")
        assert ended.status_code == 303 and ended.headers["location"] == "/signin"
        assert session.get("/deliveries/tail").status_code == 401

        # The server refuses a session past the end written in its cookie (the browser would have
        # dropped it; one that keeps it gains nothing).
        stale = httpx.Client(base_url=server.base_url, cookies={
            "wahooks_session": f"{server.token}.{int(time.time()) - 1}"})
        expired = stale.get("/connections")
        assert expired.status_code == 303 and expired.headers["location"] == "/signin"
        stale.close()

        # Bad input is a message, never a 500.
        assert plain.get("/deliveries?status=nonsense").status_code == 400
        assert plain.get("/deliveries?before=nonsense").status_code == 400
        assert plain.get("/connections/nonsense").status_code == 404
        plain.close()
        session.close()


def test_managing_connections_webhooks_and_tokens(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    with server.client() as api, Receiver() as receiver:
        token = api.post("/tokens", json={"name": "browser"}).json()
        page = open_browser().new_page()
        sign_in(page, server, token["token"])
        connection_id = connect_in_browser(page, "kept")

        # Send a text, rename.
        page.fill("input[name=chatId]", CONTACT)
        page.fill("textarea[name=text]", "hello back")
        page.click("#send-text")
        expect(page.locator(".flash.notice")).to_have_text("Sent")
        expect(page.locator(".messages")).to_contain_text("hello back")
        page.fill("form[action$=rename] input[name=name]", "renamed")
        page.click("#rename")
        expect(page.locator("h1")).to_have_text("renamed")

        # A webhook ordered per chat: shown so in the list, and in the API.
        ordered_id = create_webhook(page, server, receiver.url + "/ordered", ordering="chat")
        expect(page.locator(f"#w-{ordered_id} .ordering")).to_have_text("each chat in order")
        shoot(page, "webhook-ordered-per-chat")
        hooks = api.get(f"/connections/{connection_id}/webhooks").json()
        assert [hook["ordering"] for hook in hooks] == ["chat"]
        page.locator(f"#w-{ordered_id} input[name=confirm]").check()
        page.locator(f"#w-{ordered_id} button.delete").click()
        expect(page.locator(".flash.notice")).to_have_text("Webhook deleted")

        # A webhook: test event, pause, delete (only once confirmed).
        webhook_id = create_webhook(page, server, receiver.url)
        card = page.locator(f"#w-{webhook_id}")
        expect(card.locator(".ordering")).to_have_text("unordered")
        card.locator("button.test").click()
        expect(page).to_have_url(re.compile(rf"/deliveries\?webhook={webhook_id}"))
        expect(page.locator("#deliveries tr.delivery")).to_contain_text("test")
        page.goto(server.base_url + "/webhooks")
        card.locator("button.toggle").click()
        expect(card.locator(".badge")).to_have_text("paused")
        assert api.get(f"/connections/{connection_id}/webhooks").json()[0]["active"] is False
        card.locator("input[name=confirm]").check()
        card.locator("button.delete").click()
        expect(page.locator(".flash.notice")).to_have_text("Webhook deleted")
        assert api.get(f"/connections/{connection_id}/webhooks").json() == []

        # Delete the connection (confirmed), then restart is no more offered.
        page.goto(f"{server.base_url}/connections/{connection_id}")
        page.check("form[action$=delete] input[name=confirm]")
        page.click("#delete-connection")
        expect(page.locator(".flash.notice")).to_have_text("Connection deleted")
        expect(page.locator(f"#c-{connection_id}")).to_have_count(0)

        # Revoking the session's own token from the tokens page signs it out for good.
        page.goto(server.base_url + "/tokens")
        shoot(page, "tokens-before-revoke")
        page.locator(f"#t-{token['id']} button.revoke").click()
        expect(page).to_have_url(re.compile(r"/signin"))
        page.goto(server.base_url + "/tokens")
        expect(page).to_have_url(re.compile(r"/signin$"))
        assert all(t["id"] != token["id"] for t in api.get("/tokens").json())
