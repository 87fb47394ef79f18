"""The Schedules page in a real browser: weekly hours (two intervals a day), a zone,
a refused value shown next to its field, closures, and the hours shaded on the
Bookings week."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from playwright.async_api import expect

from tests.browser.test_dashboard import admin_of, service, sign_in
from tests.conftest import Server
from tests.helpers import gql

SERVICE_RULES = """
query ServiceRules($id: ID!) {
  service(id: $id) { timeZone weeklyHours { day opens closes } closures { date reason } capacity }
}
"""
DASH = "\u2013"  # between the opening and the closing time
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


async def test_an_admin_sets_hours_and_a_closure_and_sees_them_on_the_week(
    new_page: Callable[..., Any], server: Server, api: httpx.AsyncClient, database_url: str
) -> None:
    # given an admin and a service open around the clock
    admin = await admin_of(api, database_url)
    service_id = await service(api, admin, "Pilates")
    page = await new_page()
    await sign_in(page, server.base, admin.email)
    await page.get_by_role("link", name="Schedules").click()
    await expect(page.get_by_label("Time zone")).to_have_value("UTC")

    # when the admin opens every day 09:00 to 17:00, with a lunch break on Wednesdays,
    for name in DAYS:
        await page.get_by_role("button", name=f"Add hours on {name}").click()
    await page.get_by_role("button", name="Add hours on Wednesday").click()
    wednesday = page.locator('[data-day="WEDNESDAY"]')
    await wednesday.get_by_label("closes").first.fill("12:00")
    await wednesday.get_by_label("Wednesday 2 opens").fill("13:00")
    await page.get_by_label("Capacity (overlapping bookings)").fill("3")

    # first with a zone that does not exist: refused next to the field
    await page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    await page.get_by_role("button", name="Save hours and rules").click()
    await expect(page.locator("#rules-timeZone-error")).to_contain_text("not an IANA time zone")
    await expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")

    # then in Europe/Berlin
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_role("button", name="Save hours and rules").click()
    await expect(page.locator("p.notice")).to_have_text("Hours and rules saved.")

    # and closes a day of next week for a holiday
    closed = datetime.now().date() + timedelta(days=7)  # noqa: DTZ005 (the browser's day)
    await page.get_by_label("Date").fill(closed.isoformat())
    await page.get_by_label("Reason").fill("Staff training")
    await page.get_by_role("button", name="Add closure").click()
    await expect(page.locator(f'[data-closure="{closed.isoformat()}"]')).to_contain_text(
        "Staff training"
    )

    # then the API has the rules
    body = await gql(api, SERVICE_RULES, {"id": service_id}, token=admin.token)
    rules = body["data"]["service"]
    assert rules["timeZone"] == "Europe/Berlin"
    assert rules["capacity"] == 3
    assert len(rules["weeklyHours"]) == 8
    assert {"day": "WEDNESDAY", "opens": "13:00", "closes": "17:00"} in rules["weeklyHours"]
    assert rules["closures"] == [{"date": closed.isoformat(), "reason": "Staff training"}]

    # and the Bookings week shades them, in the service's zone
    await page.get_by_role("link", name="Bookings").click()
    week = page.locator(".week .day")
    await expect(week).to_have_count(7)
    await expect(week.locator(".hours-label").first).to_contain_text("(Europe/Berlin)")
    labels = await week.locator(".hours-label").all_inner_texts()
    assert any(f"Open 09:00{DASH}12:00, 13:00{DASH}17:00" in label for label in labels), labels
    assert sum(f"Open 09:00{DASH}17:00" in label for label in labels) == 6, labels
    assert await week.locator(".open-hours .open").count() == 8
    await page.get_by_role("button", name="Next week").click()
    closed_day = page.locator(".week .day", has_text="closure: Staff training")
    await expect(closed_day).to_have_count(1)
    await expect(closed_day.locator(".hours-label")).to_contain_text("Closed")

    # and the closure can be removed again
    await page.get_by_role("link", name="Schedules").click()
    await page.get_by_role("button", name=f"Remove the closure on {closed.isoformat()}").click()
    await expect(page.get_by_text("No closures.")).to_be_visible()
