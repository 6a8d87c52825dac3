"""The room view's record forms as a person fills them: shared by the browser tests that walk a
session from check-in to a dose, so each test says only what its own session does differently."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import seconds


def ms(n: float) -> float:
    return seconds(n) * 1000


def check_in(page: Page, label: str, route: str, weight_kg: int = 80) -> None:
    """Check the room's patient in and wait for the summary line the server sends back."""
    form = page.locator("#checkin-form")
    form.locator("[name=label]").fill(label)
    form.locator("[name=weight_kg]").fill(str(weight_kg))
    form.locator("[name=route]").select_option(route)
    form.locator("button[type=submit]").click()
    expect(page.locator("#checkin-summary")).to_have_text(
        f"{label} · {weight_kg} kg · ketamine {route}", timeout=ms(10))


def sign_off_and_dose(page: Page, dose_mg: int, mg_kg: str, reason: str) -> None:
    """Try the dose while the G1 gate holds it (refused, naming G1), sign the gate off with a
    reason, then record the same dose and wait for the dosing summary."""
    dose = page.locator("#dose-form")
    dose.locator("[name=dose_mg]").fill(str(dose_mg))
    expect(page.locator("#dose-mgkg")).to_have_text(f"{mg_kg} mg/kg")
    dose.locator("button[type=submit]").click()
    expect(page.locator("#record-error")).to_contain_text("pre-dose gate active: G1", timeout=ms(10))
    page.locator("#signoff-open").click()
    page.locator("#signoff-form [name=reason]").fill(reason)
    page.locator("#signoff-form button[type=submit]").click()
    expect(page.locator("#gate-text")).to_contain_text("signed off", timeout=ms(10))
    dose.locator("button[type=submit]").click()
    expect(page.locator("#dosing-summary")).to_contain_text(
        f"{dose_mg} mg ({float(mg_kg):g} mg/kg)", timeout=ms(10))
