"""The pieces every browser test shares: Chromium under Playwright, browser contexts
that keep a screenshot of a failed test, and the outside validators' verdict on a
signed PDF."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from his_portal.services.signing.validation import validate_with_pyhanko

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = Path(os.environ.get("HIS_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[object]:
    """System Chromium under Playwright. Missing pieces fail loudly, never skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(
            f"Playwright is not installed ({exc}): pip install -r requirements-dev.txt",
            pytrace=False,
        )
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) "
            "or set HIS_E2E_CHROMIUM. The browser tests need a real browser.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def contexts(browser, base_url: str, request) -> Iterator[Callable[..., object]]:
    """Factory of fresh zh-CN browser contexts (own local storage) on ``base_url``.

    On a test failure every page of every context made is saved to test-artifacts/.
    """
    made = []

    def make(width: int = 1280, height: int = 800, **options):
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="zh-CN",
            base_url=base_url,
            **options,
        )
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    try:
        yield make
    finally:
        report = getattr(request.node, "rep_call", None)
        failed = report is not None and report.failed
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, context in enumerate(made):
            for index, page in enumerate(context.pages if failed else ()):
                path = ARTIFACTS / f"failed-{name}-{number}-{index}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                except Exception as exc:
                    print(f"screenshot {path} failed: {exc}")
            context.close()


def assert_valid_pdf(pdf: Path, base: str) -> None:
    """pdfsig and pyHanko (trusting the app's CA) accept the signature and its
    timestamp, and the signature covers the whole file."""
    out = subprocess.run(["pdfsig", pdf], capture_output=True, text=True, check=False)
    assert "Signature is Valid." in out.stdout and "Total document signed" in out.stdout
    assert "ETSI.CAdES.detached" in out.stdout
    ca = urllib.request.urlopen(f"{base}/pki/ca.crt").read()
    # pyHanko runs its own asyncio loop: not in this thread, where Playwright's runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        report = pool.submit(
            validate_with_pyhanko, pdf.read_bytes(), trust_roots_pem=[ca]
        ).result()
    assert report.intact and report.valid and report.trusted, report
    assert report.timestamp_valid and report.archived  # B-LTA
