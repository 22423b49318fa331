"""The student report in a real browser: Debian's headless Chromium, driven by playwright.

The report must load with no console message, request nothing but itself, show the score,
the checks with their code and the four plots at a desktop and a phone width without
sideways scrolling, and print to PDF. Screenshots are left in pytest's tmp folder (the
path is printed with -s) for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sample_results import graded_result

from grader import report
from grader.results import Assessment, GradeResult, Status

CHROMIUM = shutil.which("chromium")
# Chromium as root in a container: no sandbox, no GPU, and nothing that calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLOTS = ("learning_rate", "history", "trials", "accuracy")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`make system` installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # playwright gives each launch a fresh temporary profile (--user-data-dir).
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser: Browser, path: Path, width: int) -> tuple[Page, list[str], list[str]]:
    """Open `path` at `width` px; return the page, console problems and requested URLs."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


@pytest.mark.parametrize("width", [1000, 390], ids=["desktop", "phone"])
def test_report_renders_in_chromium(browser: Browser, tmp_path: Path, width: int) -> None:
    html = report.render_reports(graded_result(), tmp_path, lang="es")[0]
    page, problems, requests = _open(browser, html, width)

    assert page.locator("#score").inner_text().strip() == "7,5 / 10"
    checks = page.locator("#checks article.check")
    assert checks.count() == 4  # the hidden check is not shown
    assert page.locator("#check-schedule .badge").inner_text() == "No superada"
    code = page.locator("#check-schedule pre.code")
    assert code.is_visible()
    assert "ExponentialDecay(" in code.locator("span.at").inner_text()
    for name in PLOTS:
        plot = page.locator(f"svg#plot-{name}")
        assert plot.is_visible(), name
        box = plot.bounding_box()
        assert box is not None and box["width"] > 0.8 * min(width - 40, 600), (name, box)
        assert box["height"] > 100, (name, box)
    # The phone layout wraps instead of scrolling sideways (code blocks scroll by themselves).
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    shot = tmp_path / f"report-{width}px.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000
    pdf = page.pdf(path=str(tmp_path / "report.pdf"))
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000

    assert problems == []
    assert requests == [html.as_uri()], "the report must be self-contained"
    page.close()


def test_report_without_results_renders_in_chromium(browser: Browser, tmp_path: Path) -> None:
    result = GradeResult.without_results(
        Assessment("fashion-mnist-polynomial-decay", "smoke", 10.0),
        id="student-error",
        sha256="",
        status=Status.ERROR,
        message="SyntaxError in cell 7, line 2: invalid syntax",
    )
    html = report.render_reports(result, tmp_path, lang="en")[0]
    page, problems, _ = _open(browser, html, 390)
    assert page.locator(".summary .badge").inner_text() == "Error"
    assert "SyntaxError in cell 7, line 2" in page.locator("#summary").inner_text()
    assert page.locator("svg").count() == 0
    assert problems == []
    page.close()
