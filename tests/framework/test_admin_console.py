"""The admin console in a real browser: Playwright drives Debian's Chromium against a service running with the
emulators. One browser per test process; each view's screenshot is written under pytest's temporary directory (the
path is printed at the end of the run), or to $CHATWRIGHT_SCREENSHOTS when set."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
import pytest_asyncio

from framework.testing import BotHarness
from tests.conftest import require_service, wait_until
from tests.framework.admin_helpers import harness, messages
from tests.framework.welcome_helpers import roosted_state

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHROMIUM = "/usr/bin/chromium"
TOKEN = "console-s3cret"


def url(bot: BotHarness, path: str) -> str:
    assert bot.client is not None
    return str(bot.client.make_url(path))


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CHATWRIGHT_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("admin-console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder  # tests/conftest.py names it at the end of the run


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    try:
        from playwright.async_api import async_playwright
    except ImportError as error:
        require_service("playwright", False, f"the playwright package is not installed ({error})")
    require_service(
        "chromium", shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is missing (apt-get install chromium)"
    )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    opened = await context.new_page()
    yield opened
    await context.close()


async def test_the_events_view_shows_a_real_run_with_payload_handlers_and_steps(
    page: Page, screenshots: Path
) -> None:
    async with harness() as bot:
        (done,) = await bot.emit("member.joined", {"name": "Ada"})
        event_id = done.outcome.event.id
        await page.goto(url(bot, "/admin"))
        table = page.get_by_role("table")
        await table.get_by_role("link", name=event_id).wait_for()
        row = table.get_by_role("row").filter(has_text=event_id)
        assert "member.joined" in await row.inner_text() and "done" in await row.inner_text()
        assert "welcome.welcome: ok" in await row.inner_text()
        await page.screenshot(path=screenshots / "events.png", full_page=True)
        await page.keyboard.press("Tab")  # the keyboard's first stop skips the navigation
        assert await page.evaluate("document.activeElement.textContent") == "Skip to content"

        await page.get_by_label("Type").fill("nothing.like.it")
        await page.get_by_role("button", name="Search").click()
        assert await page.get_by_role("link", name=event_id).count() == 0
        await page.get_by_label("Type").fill("member.joined")
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("link", name=event_id).click()

        await page.get_by_role("heading", name="Attempt 1: done").wait_for()
        body = await page.locator("main").inner_text()
        assert '"name": "Ada"' in body  # the payload
        # the recorded provider steps: create_chat's (a handler's last step, post_message, is not recorded when
        # it returns: the ack follows)
        assert "roosted.create_chat" in body and '"state": "done"' in body
        assert "Received" in body and "Duration" in body
        await page.screenshot(path=screenshots / "event.png", full_page=True)

        await page.get_by_role("link", name="Handlers and adapters").click()
        handlers = page.get_by_role("table", name="Handlers")
        assert "welcome.welcome" in await handlers.inner_text()
        await page.screenshot(path=screenshots / "handlers.png", full_page=True)


async def test_a_dead_letter_replayed_by_clicking_reaches_the_emulator(page: Page, screenshots: Path) -> None:
    async with harness() as bot:
        bot.script("roosted", status=400, method="POST", path="*/messages", times=1)
        (dead,) = await bot.emit("member.joined", {"name": "Grace"})
        assert dead.action == "dead" and messages(bot) == []
        event_id = dead.outcome.event.id

        await page.goto(url(bot, "/admin/dead-letters"))
        await (
            page.get_by_role("button", name="Traceback of welcome.welcome")
            .or_(page.get_by_text("Traceback of welcome.welcome"))
            .first.click()
        )
        assert "Traceback (most recent call last)" in await page.locator("main").inner_text()
        await page.screenshot(path=screenshots / "dead-letters.png", full_page=True)
        await page.get_by_label(f"Choose {event_id}").check()
        await page.get_by_role("button", name="Replay chosen").click()
        await page.get_by_role("heading", name="Replay 1 dead letter(s)?").wait_for()
        await page.screenshot(path=screenshots / "confirm-replay.png", full_page=True)
        assert messages(bot) == []  # nothing happens before the confirmation
        await page.get_by_role("button", name="Yes, replay 1").click()

        await page.get_by_role("status").filter(has_text="Replayed 1 of 1").wait_for()
        await wait_until(lambda: messages(bot) == ["Welcome aboard, Grace!"])
        assert await bot.dead_letters() == []
        assert len(roosted_state(bot).chats) == 1  # the replay continued from the recorded create_chat


async def test_a_paused_schedule_does_not_fire_until_resumed(page: Page, screenshots: Path) -> None:
    async with harness() as bot:
        await page.goto(url(bot, "/admin/schedules"))
        row = page.get_by_role("row").filter(has_text="weekday-digest")
        assert "active" in await row.inner_text()
        await page.get_by_role("button", name="Pause weekday-digest").click()
        await page.get_by_role("status").filter(has_text="Paused weekday-digest").wait_for()
        assert "paused" in await row.inner_text()
        await page.screenshot(path=screenshots / "schedules.png", full_page=True)

        assert await bot.advance_to("2031-01-06T08:00:00+00:00") == []  # a Monday, 08:00: due, but paused

        await page.get_by_role("button", name="Resume weekday-digest").click()
        await page.get_by_role("status").filter(has_text="Resumed weekday-digest").wait_for()
        assert "active" in await row.inner_text()
        await page.get_by_role("button", name="Fire now weekday-digest").click()
        await page.get_by_role("status").filter(has_text="Fired weekday-digest").wait_for()
        await bot.settle()
        assert [d.outcome.event.type for d in bot.dispositions] == ["digest.due"]


async def test_without_the_token_the_console_and_the_api_refuse(page: Page, screenshots: Path) -> None:
    async with harness(admin_token=TOKEN) as bot:
        refused = await page.goto(url(bot, "/admin/events"))
        assert refused is not None and refused.status == 401
        await page.screenshot(path=screenshots / "sign-in.png", full_page=True)
        api = await page.request.get(url(bot, "/admin/api/events"))
        assert api.status == 401

        await page.get_by_label("Admin token").fill("not-the-token")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").filter(has_text="not the admin token").wait_for()
        await page.get_by_label("Admin token").fill(TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Events").wait_for()
        assert page.url.endswith("/admin/")


async def test_a_post_without_the_csrf_token_is_refused(page: Page) -> None:
    async with harness() as bot:
        bot.script("roosted", status=400, method="POST", path="*/messages", times=1)
        (dead,) = await bot.emit("member.joined", {"name": "Lin"})
        event_id = dead.outcome.event.id
        await page.goto(url(bot, "/admin/dead-letters"))  # the browser now holds the CSRF cookie
        form: dict[str, str | float | bool] = {"action": "replay", "id": event_id, "confirmed": "yes"}
        forged = await page.request.post(url(bot, "/admin/dead-letters"), form=form)
        assert forged.status == 403 and "csrf_failed" in await forged.text()
        wrong = await page.request.post(url(bot, "/admin/dead-letters"), form={**form, "csrf": "guessed"})
        assert wrong.status == 403
        other_site = await page.request.post(
            url(bot, "/admin/api/dead-letters/" + event_id + "/replay"),
            headers={"Origin": "https://evil.test"},
        )
        assert other_site.status == 403 and "cross_origin" in await other_site.text()
        async with aiohttp.ClientSession() as session:  # no cookies at all
            bare = await session.post(url(bot, "/admin/dead-letters"), data=form)
            assert bare.status == 403
        assert len(await bot.dead_letters()) == 1 and messages(bot) == []
