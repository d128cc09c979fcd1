"""The webhooks page's endpoint health in Chromium against a real `wahooks serve` and a real
receiver: a receiver answering 410 Gone disables the webhook, the page shows why and since when,
the held deliveries and the health figures, and "Re-enable and replay N held" delivers them. Every
wait is on page state or on the API's answer, never on time."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from browser.test_dashboard import CONTACT, connect_in_browser, create_webhook, settled, sign_in
from support.receiver import Receiver
from support.server import ServerProcess, wait_until

Shoot = Callable[[Page, str], None]


def test_a_gone_webhook_is_shown_disabled_with_what_it_holds_and_replayed_on_re_enable(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser().new_page()
    sign_in(page, server, server.token)
    connection_id = connect_in_browser(page, "health")

    def inbound(text: str) -> None:
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": text})
        assert sent.status_code == 201, sent.text

    with server.client() as api, Receiver(statuses=[410]) as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        inbound("before the endpoint went away")
        wait_until(lambda: api.get(f"/webhooks/{webhook_id}/health").json()["disabledReason"])
        inbound("held one")
        inbound("held two")

        page.goto(f"{server.base_url}/webhooks")
        card = page.locator(f"#w-{webhook_id}")
        expect(card.locator(f"#state-{webhook_id}")).to_have_text("disabled: gone")
        expect(card.locator(f"#disabled-{webhook_id}")).to_contain_text("410 Gone")
        health = card.locator(f"#health-{webhook_id}")
        expect(health.locator(".disabled-reason")).to_contain_text("gone since")
        expect(health.locator(".held")).to_have_text("3")
        expect(health.locator(".success-rate")).to_contain_text("0.0%")
        expect(health.locator(".last-success")).to_have_text("-")
        expect(health.locator(".last-failure")).not_to_have_text("-")
        expect(health.locator(".dead-letters")).to_have_text("0")
        replay = card.locator(f"#replay-{webhook_id}")
        expect(replay).to_have_text("Re-enable and replay 3 held")
        shoot(page, "webhooks-disabled-held")

        # The held deliveries are listed, and a held one says how it will go out.
        health.locator(".held a").click()
        expect(page.locator("#deliveries tr.delivery")).to_have_count(3)
        expect(page.locator("select[name=status]")).to_have_value("held")
        shoot(page, "deliveries-held")
        assert len(receiver.requests) == 1

        receiver.statuses = [200]
        page.goto(f"{server.base_url}/webhooks")
        page.locator(f"#replay-{webhook_id}").click()
        expect(page.locator(".flash")).to_contain_text("Webhook enabled; 3 held deliveries replayed")
        settled(api, webhook_id, "delivered", count=3)
        receiver.wait_for(4)
        page.goto(f"{server.base_url}/webhooks")
        card = page.locator(f"#w-{webhook_id}")
        expect(card.locator(f"#state-{webhook_id}")).to_have_text("active")
        expect(card.locator(f"#health-{webhook_id} .held")).to_have_text("0")
        expect(card.locator(f"#replay-{webhook_id}")).to_have_count(0)
        shoot(page, "webhooks-replayed")

    page.goto(f"{server.base_url}/deliveries?webhook={webhook_id}&status=delivered")
    expect(page.locator("#deliveries tr.delivery")).to_have_count(3)


def test_re_enable_and_replay_works_without_javascript(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    page = open_browser(javascript=False).new_page()
    sign_in(page, server, server.token)
    connection_id = connect_in_browser(page, "plain health")

    with server.client() as api, Receiver(statuses=[410]) as receiver:
        webhook_id = create_webhook(page, server, receiver.url)
        sent = api.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": CONTACT, "body": "gone"})
        assert sent.status_code == 201, sent.text
        wait_until(lambda: api.get(f"/webhooks/{webhook_id}/health").json()["held"] == 1)
        receiver.statuses = [200]
        page.goto(f"{server.base_url}/webhooks")
        page.locator(f"#replay-{webhook_id}").click()
        expect(page.locator(".flash")).to_contain_text("Webhook enabled; 1 held delivery replayed")
        shoot(page, "webhooks-replayed-without-javascript")
        settled(api, webhook_id, "delivered")
        receiver.wait_for(2)
