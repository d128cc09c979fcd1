"""The dashboard's pages for the delivery features, in Chromium against a real `wahooks serve` and a
real receiver: a failed attempt's detail, the log filters in the URL, recovering dead letters since
a time, and rotating a secret (the new one shown once). Every wait is on page state or on the API's
answer, never on time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import BrowserContext, Page, expect

from browser.conftest import create_account
from browser.test_dashboard import CONTACT, connect_in_browser, create_webhook, settled, sign_in
from support.receiver import Receiver
from support.server import ServerProcess, wait_until

Shoot = Callable[[Page, str], None]


def test_attempt_detail_filters_recovery_and_rotation(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser().new_page()
    sign_in(page, server, server.token)
    connection_id = connect_in_browser(page, "ops")

    failing = Receiver(statuses=[500], answer_body='{"error": "database down"}',
                       answer_headers={"X-Request-Id": "req-42"})
    with server.client() as api, failing as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        # A minute of slack before the event: recovery's window is on event times.
        since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "this one fails"})
        assert sent.status_code == 201, sent.text
        failed = settled(api, webhook_id, "failed")[0]

        # A failed attempt's detail: trigger, error class, status, the receiver's body and header.
        page.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
        expect(page.locator("#delivery-status")).to_have_text("failed")
        expect(page.locator("#attempts tr.attempt")).to_have_count(3)
        first = page.locator("#attempt-1")
        expect(first.locator(".trigger")).to_have_text("scheduled")
        expect(first.locator(".status")).to_have_text("500")
        expect(first.locator(".error-class")).to_have_text("http_status")
        detail = page.locator("#attempt-1-detail")
        expect(detail.locator(".response-body")).to_have_text('{"error": "database down"}')
        expect(detail.locator(".response-headers")).to_contain_text("req-42")
        # Each attempt's request headers as sent: what the receiver got, the same as the API's.
        for number, received in enumerate(receiver.requests[:3], start=1):
            shown = page.locator(f"#attempt-{number}-detail .request-headers")
            pairs = list(zip(shown.locator("dt").all_text_contents(),
                             shown.locator("dd").all_text_contents(), strict=True))
            assert pairs == list(received.headers.items())
            assert dict(pairs) == failed["attemptLog"][number - 1]["requestHeaders"]
        expect(page.locator("#attempt-3-detail details.request")).to_have_attribute("open", "")
        shoot(page, "delivery-attempt-detail")

        # The receiver works again: a delivered message and a delivered test event.
        receiver.statuses = [200]
        receiver.answer_body = None
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "this one arrives"})
        assert sent.status_code == 201, sent.text
        settled(api, webhook_id, "delivered")
        assert api.post(f"/webhooks/{webhook_id}/test").status_code < 300
        logs = settled(api, webhook_id, "delivered", count=2)
        delivered_message = next(log for log in logs
                                 if log["status"] == "delivered" and log["eventType"] == "message")

        # Filters live in the URL: by HTTP status class, then with the event type too.
        page.goto(f"{server.base_url}/deliveries?webhook={webhook_id}&statusClass=5xx")
        expect(page.locator("#deliveries tr.delivery")).to_have_count(1)
        expect(page.locator(f"#d-{failed['id']}")).to_be_visible()
        expect(page.locator("select[name=statusClass]")).to_have_value("5xx")
        page.select_option("select[name=statusClass]", "2xx")
        page.click("#filter")
        expect(page).to_have_url(re.compile(r"statusClass=2xx"))
        expect(page.locator("#deliveries tr.delivery")).to_have_count(2)
        page.fill("input[name=eventType]", "message")
        page.click("#filter")
        expect(page).to_have_url(re.compile(r"eventType=message.*statusClass=2xx"))
        expect(page.locator("#deliveries tr.delivery")).to_have_count(1)
        expect(page.locator(f"#d-{delivered_message['id']}")).to_be_visible()
        # The live tail follows the same filters (and not the page's message or cursor).
        expect(page.locator("#live")).to_have_attribute(
            "sse-connect", f"/deliveries/tail?webhook={webhook_id}&eventType=message&statusClass=2xx")
        shoot(page, "deliveries-filtered")
        # A bad filter is a message on the page, not a 500.
        page.goto(f"{server.base_url}/deliveries?statusClass=7xx")
        expect(page.locator("#problem")).to_contain_text("statusClass must be one of")
        page.goto(f"{server.base_url}/deliveries?since=yesterday")
        expect(page.locator("#problem")).to_contain_text("since must be an ISO 8601 time")

        # Recover the dead letters since a time: the failed one is queued and delivered.
        page.goto(server.base_url + "/webhooks")
        card = page.locator(f"#w-{webhook_id}")
        card.locator("input[name=since]").fill(since)
        card.locator("button.recover-since").click()
        expect(page.locator(".flash.notice")).to_have_text("1 dead letter queued again (recover)")
        expect(page).to_have_url(re.compile(rf"/deliveries\?webhook={webhook_id}"))
        settled(api, webhook_id, "delivered", count=3)
        page.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
        expect(page.locator("#delivery-status")).to_have_text("delivered")
        expect(page.locator("#attempt-4 .trigger")).to_have_text("recover")
        expect(page.locator("#attempt-4 .status")).to_have_text("200")
        # Nothing left to recover; a window that ends before it starts is refused with a message.
        page.goto(server.base_url + "/webhooks")
        card.locator("input[name=since]").fill(since)
        card.locator("button.recover-since").click()
        expect(page.locator(".flash.notice")).to_have_text("0 dead letters queued again (recover)")
        page.goto(server.base_url + "/webhooks")
        card.locator("input[name=since]").fill(since)
        card.locator("input[name=until]").fill("2000-01-01T00:00:00")
        card.locator("button.recover-since").click()
        expect(page.locator(".flash.error")).to_contain_text("since must be earlier than until")

        # Rotate the secret with a 2 h overlap: the new one is shown once, with the old one's end.
        page.goto(server.base_url + "/webhooks")
        old_secret = card.locator(".secret").text_content()
        card.locator("input[name=overlap_hours]").fill("2")
        clicked = datetime.now(UTC).replace(microsecond=0)
        card.locator("button.rotate-secret").click()
        expect(page.locator("#new-secret")).to_be_visible()
        shown = datetime.now(UTC)
        new_secret = page.locator("#new-secret").text_content()
        assert new_secret and new_secret != old_secret
        webhook = next(w for w in api.get(f"/connections/{connection_id}/webhooks").json()
                       if w["id"] == webhook_id)
        assert webhook["signingSecret"] == new_secret
        expires = page.locator("#previous-expires").text_content() or ""
        ends = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        # Two hours after the rotation, which happened between the click and the page showing it.
        assert clicked + timedelta(hours=2) <= ends <= shown + timedelta(hours=2)
        shoot(page, "webhooks-rotated")
        page.goto(server.base_url + "/webhooks")
        expect(page.locator(f"#w-{webhook_id}")).to_be_visible()
        expect(page.locator("#new-secret")).to_have_count(0)  # once: a later visit does not show it
        # An overlap beyond 7 days is refused with a message, and the secret stays.
        card.locator("input[name=overlap_hours]").evaluate("input => input.removeAttribute('max')")
        card.locator("input[name=overlap_hours]").fill("200")
        card.locator("button.rotate-secret").click()
        expect(page.locator(".flash.error")).to_contain_text("overlap must be from 0 to 168 hours")
        expect(card.locator(".secret")).to_have_text(new_secret)


def test_without_javascript_recovering_and_rotating_work(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser(javascript=False).new_page()
    sign_in(page, server, server.token)
    connection_id = connect_in_browser(page, "plain")

    with server.client() as api, Receiver(statuses=[500]) as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "no script needed"})
        assert sent.status_code == 201, sent.text
        failed = settled(api, webhook_id, "failed")[0]

        receiver.statuses = [200]
        page.goto(server.base_url + "/webhooks")
        card = page.locator(f"#w-{webhook_id}")
        card.locator("input[name=since]").fill(since)
        card.locator("button.recover-since").click()
        expect(page.locator(".flash.notice")).to_have_text("1 dead letter queued again (recover)")
        settled(api, webhook_id, "delivered")
        page.goto(f"{server.base_url}/webhooks/{webhook_id}/deliveries/{failed['id']}")
        expect(page.locator("#delivery-status")).to_have_text("delivered")

        page.goto(server.base_url + "/webhooks")
        card.locator("button.rotate-secret").click()  # the default overlap: 24 h
        expect(page.locator("#new-secret")).to_be_visible()
        webhook = next(w for w in api.get(f"/connections/{connection_id}/webhooks").json()
                       if w["id"] == webhook_id)
        expect(page.locator("#new-secret")).to_have_text(webhook["signingSecret"])
        shoot(page, "webhooks-rotated-without-javascript")


def test_retrying_the_failed_deliveries_that_match_the_filters(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser().new_page()
    sign_in(page, server, server.token)
    connection_id = connect_in_browser(page, "bulk")

    with server.client() as api, Receiver(statuses=[500]) as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "stays failed"})
        assert sent.status_code == 201, sent.text
        assert api.post(f"/webhooks/{webhook_id}/test").status_code == 201
        logs = settled(api, webhook_id, "failed", count=2)
        message = next(log for log in logs if log["eventType"] == "message")
        test_event = next(log for log in logs if log["eventType"] == "test")

        # A bad filter (posted by hand: the page refuses to show one) is refused with the API's
        # message, and nothing is retried.
        page.goto(f"{server.base_url}/deliveries?webhook={webhook_id}")
        _add_to_retry_form(page, "since", "yesterday")
        page.click("#retry-matching")
        expect(page.locator(".flash.error")).to_contain_text("since must be an ISO 8601 time")

        # Only the test event matches: it is retried (and delivered), the message stays failed.
        receiver.statuses = [200]
        page.goto(f"{server.base_url}/deliveries?webhook={webhook_id}&eventType=test")
        page.click("#retry-matching")
        expect(page.locator(".flash.notice")).to_have_text(
            "1 failed delivery matching the filters enqueued again")
        expect(page).to_have_url(re.compile(rf"webhook={webhook_id}&eventType=test"))
        shoot(page, "deliveries-retried-matching")

        def statuses() -> dict[str, str] | None:
            found = {log["id"]: log["status"] for log in
                     api.get(f"/webhooks/{webhook_id}/logs").json()}
            return found if found[test_event["id"]] == "delivered" else None

        after = wait_until(statuses)
        assert after[message["id"]] == "failed"
        detail = api.get(f"/webhooks/{webhook_id}/logs/{test_event['id']}").json()
        assert detail["attemptLog"][-1]["trigger"] == "manual"

    # Another account cannot retry this webhook's deliveries by naming it.
    other = open_browser().new_page()
    sign_in(other, server, create_account(server, "mallory"))
    other.goto(f"{server.base_url}/deliveries")
    _add_to_retry_form(other, "webhook", webhook_id)
    other.click("#retry-matching")
    expect(other.locator(".flash.error")).to_contain_text("do not own")


def _add_to_retry_form(page: Page, name: str, value: str) -> None:
    page.evaluate(
        "([name, value]) => { const input = document.createElement('input');"
        " input.type = 'hidden'; input.name = name; input.value = value;"
        " document.querySelector('#retry-matching-form').appendChild(input); }", [name, value])
