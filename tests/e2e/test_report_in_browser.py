"""The HTML report drawn by a real browser (Debian's Chromium, headless, through chromedriver):
every chart drew its data, nothing failed in the console, CRM text stayed text. A screenshot of
the page is kept in ``test-artifacts/``.

Without Chromium and chromedriver the test is skipped with the reason; `.ci/run` installs both
and sets KAM_SYNC_TEST_BROWSER_REQUIRED, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kam_sync.engine.html_report import write_report
from kam_sync.store import open_store
from tests.report_portfolio import HOSTILE_NAME, NOW, ReportPortfolio, build

BROWSER_REQUIRED_ENV = "KAM_SYNC_TEST_BROWSER_REQUIRED"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = (
    "tiers",
    "scores",
    "key-list",
    "stages",
    "checklist",
    "roles",
    "movers-last-run",
    "movers-window",
    "runs",
    "queue",
)
PAGE_LOAD_SECONDS = 60

pytestmark = pytest.mark.slow


def _browser_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why they cannot be used."""
    browser = next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))),
        None,
    )
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if browser is None or driver is None:
        return "Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)"
    return browser, driver


@pytest.fixture
def chromium() -> Iterator[Any]:
    paths = _browser_paths()
    if isinstance(paths, str):
        if os.environ.get(BROWSER_REQUIRED_ENV):
            pytest.fail(f"{BROWSER_REQUIRED_ENV} is set but {paths}")
        pytest.skip(paths)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not download anything
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def report(tmp_path: Path) -> tuple[ReportPortfolio, Path]:
    portfolio = build(tmp_path)
    store = open_store(portfolio.project.config.store.url, portfolio.root)
    try:
        path = write_report(portfolio.project, store, tmp_path / "report.html", now=NOW)
    finally:
        store.close()
    return portfolio, path


# For each chart: its traces, and per trace the marks drawn (bars, funnel steps, markers) and
# whether a line was drawn; and the axis labels.
_CHART_STATE = """
const out = {};
for (const section of document.querySelectorAll('section[data-chart]')) {
  const gd = section.querySelector('.js-plotly-plot');
  if (!gd) { out[section.dataset.chart] = null; continue; }
  const box = gd.getBoundingClientRect();
  const traces = [...gd.querySelectorAll('g.trace')].map(t => ({
    marks: [...t.querySelectorAll('g.point path, path.point')].filter(p => {
      const d = p.getAttribute('d');
      return d && d !== 'M0,0Z' && p.getBBox().width * p.getBBox().height > 0;
    }).length,
    line: [...t.querySelectorAll('path.js-line')].some(p => p.getTotalLength() > 0),
  }));
  out[section.dataset.chart] = {
    width: box.width, height: box.height,
    svg: gd.querySelectorAll('svg.main-svg').length,
    data: (gd.data || []).length,
    traces: traces,
    yticks: [...gd.querySelectorAll('.ytick text')].map(t => t.textContent),
    xticks: [...gd.querySelectorAll('.xtick text')].map(t => t.textContent),
    text: [...gd.querySelectorAll('text')].map(t => t.textContent).join('|'),
  };
}
return out;
"""


def test_every_chart_of_the_report_draws_its_data_in_chromium(
    chromium: Any, report: tuple[ReportPortfolio, Path]
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    _, path = report
    chromium.get(path.as_uri())
    WebDriverWait(chromium, PAGE_LOAD_SECONDS).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0"
        )
    )
    state: dict[str, Any] = chromium.execute_script(_CHART_STATE)

    ARTIFACTS.mkdir(exist_ok=True)
    height = chromium.execute_script("return document.body.scrollHeight")
    chromium.set_window_size(1280, int(height) + 100)
    chromium.save_screenshot(str(ARTIFACTS / "report.png"))

    assert sorted(state) == sorted(CHARTS)
    for name in CHARTS:
        chart = state[name]
        assert chart is not None, f"{name}: no plotly graph"
        assert chart["svg"] > 0 and chart["width"] > 100 and chart["height"] > 100, name
        assert chart["data"] == len(chart["traces"]) > 0, name
        for trace in chart["traces"]:
            assert trace["marks"] > 0 or trace["line"], f"{name}: a trace drew nothing"

    marks = {name: [t["marks"] for t in state[name]["traces"]] for name in CHARTS}
    assert marks["tiers"] == [3]  # strategic 1, key 2, emerging 2; watchlist and none empty
    assert state["tiers"]["xticks"][:3] == ["strategic", "key", "emerging"]
    assert marks["scores"][0] >= 4  # the five scores fall in four or five bins
    for tier, threshold in (("strategic", 75), ("key", 60), ("emerging", 45), ("watchlist", 35)):
        assert f"{tier} {threshold}" in state["scores"]["text"]
    key_list = state["key-list"]["traces"]
    assert key_list[0]["line"] and key_list[0]["marks"] == 3  # three runs
    assert key_list[1]["line"]  # the cap
    assert key_list[2]["marks"] == 1  # the one run with a growth alert
    assert marks["stages"] == [5]  # every stage was reached (action_plan by the accounts past it)
    assert marks["checklist"] == [8, 8]
    assert marks["roles"] == [6]
    assert marks["movers-last-run"] == [3] and marks["movers-window"] == [4]
    assert "Globex Insurance (001A01)" in state["movers-window"]["yticks"]
    assert f"{HOSTILE_NAME} (001A03)" in state["movers-last-run"]["yticks"]  # shown as written
    assert sum(marks["runs"][:-1]) > 0 and state["runs"]["traces"][-1]["line"]
    assert marks["queue"] == [1, 1]  # one retry, one dead letter

    # The hostile account name is shown, never run.
    assert chromium.execute_script("return window.__injected === undefined")
    cells = chromium.execute_script(
        "return [...document.querySelectorAll('td')].map(td => td.textContent)"
    )
    assert HOSTILE_NAME in cells
    errors = [e for e in chromium.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
