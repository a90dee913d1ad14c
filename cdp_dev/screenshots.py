"""The running stack as an operator sees it in a browser (issue 18): the Airflow UI's view of
a finished nightly run (its grid and task instances), the Spark master UI with its workers and
the night's applications, and the HTML run report, each opened in headless Chromium (Debian's
``chromium`` package, driven by Playwright), checked and saved as a PNG.

`cdp screenshots` (`make screenshots`) writes them under docs/screenshots for README; the
stack's end-to-end test (tests/test_stack.py) takes them of its own night and checks them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cdp.app import stack
from cdp.app.report import report_path
from cdp.app.steps import STEPS
from cdp.core.errors import CdpError

VIEWPORT = {"width": 1400, "height": 1000}
# Long enough for a slow machine to render the Airflow UI's React pages.
PAGE_TIMEOUT_MS = 60_000
# The first column of the table under the run report's "Steps" heading.
STEPS_COLUMN = "xpath=//h2[text()='Steps']/following-sibling::table[1]//tr/td[1]"


@dataclass(frozen=True)
class Page:
    """One page as the browser rendered it: its URL, the PNG saved and the text shown."""

    name: str
    url: str
    png: Path
    text: str
    # The run report's steps table, its first column (empty for the other pages).
    steps: tuple[str, ...] = ()


def chromium_path() -> str:
    """Debian's Chromium (the stack's own set-up installs it: `make stack-deps`)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise CdpError("Chromium not found on PATH; `make stack-deps` installs Debian's chromium")


def capture(s: stack.StackSettings, run: dict, out: Path) -> dict[str, Page]:
    """Open the Airflow page of ``run`` (a DAG run as the REST API returns it), the Spark
    master UI and the run's HTML report; save each as ``out/<name>.png``."""
    from playwright.sync_api import sync_playwright

    password = stack.airflow_password(s)
    if password is None:
        raise CdpError(f"no Airflow login under {s.home}; run `make up` first")
    # A run triggered without a warehouse param wrote to the stack's own.
    warehouse = run["conf"].get("warehouse") or str(s.warehouse)
    report = Path(report_path(warehouse, run["conf"]["batch_date"]))
    if not report.is_file():
        raise CdpError(f"{report}: the run report of {run['dag_run_id']} is missing")
    out.mkdir(parents=True, exist_ok=True)
    pages: dict[str, Page] = {}
    with sync_playwright() as pw:
        # --no-sandbox: Chromium's sandbox refuses to run as root (CI machines, containers).
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            def shoot(name: str, url: str, ready: str) -> None:
                page.goto(url)
                # The UIs fill their pages after load: wait for the text that says it is done.
                page.get_by_text(ready, exact=False).first.wait_for()
                page.wait_for_load_state("networkidle")
                png = out / f"{name}.png"
                page.screenshot(path=str(png))
                steps = page.locator(STEPS_COLUMN).all_inner_texts()
                pages[name] = Page(name, url, png, page.inner_text("body"), tuple(steps))

            # The simple auth manager's login form, as a person signs in.
            page.goto(f"{s.airflow_url}/")
            page.locator("input[name=username]").fill("admin")
            page.locator("input[name=password]").fill(password)
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"{s.airflow_url}/")
            run_url = f"{s.airflow_url}/dags/{run['dag_id']}/runs/{run['dag_run_id']}"
            shoot("airflow-run", run_url, "Task Instances")
            shoot("spark-master", f"{s.spark_ui_url}/", "Workers (")
            shoot("run-report", report.resolve().as_uri(), "Steps")
        finally:
            browser.close()
    return pages


def problems(pages: dict[str, Page], run: dict, workers: int) -> list[str]:
    """What the pages fail to show: the run succeeded with every task, ``workers`` alive
    workers, and the report's steps table listing the build's steps (and nothing else)."""
    found = []
    airflow = pages["airflow-run"].text
    # The run's heading: its id, then its state.
    if f"{run['dag_run_id']}\nSuccess" not in airflow:
        found.append(f"the Airflow page does not show run {run['dag_run_id']} as Success")
    found += [
        f"the Airflow page does not list task {step.name}"
        for step in STEPS
        if step.name not in airflow
    ]
    if f"Workers: {workers} Alive" not in pages["spark-master"].text:
        found.append(f"the Spark master UI does not show {workers} alive workers")
    # The land task hands its files to bronze, not to the report: the report lists the rest,
    # in build order, and nothing else (Airflow's task context once leaked in; issue 18).
    wanted = tuple(step.name for step in STEPS if step.name != "land")
    listed = pages["run-report"].steps
    if listed != wanted:
        found.append(f"the run report's steps table lists {list(listed)}, not {list(wanted)}")
    return found


def take(s: stack.StackSettings, out: Path) -> dict[str, Page]:
    """Screenshots of the newest successful nightly run on the running stack, checked:
    CdpError naming what a page fails to show."""
    run = stack.latest_run(s, "cdp_nightly")
    if run is None:
        raise CdpError("no successful cdp_nightly run on the stack; `cdp stack trigger` one first")
    pages = capture(s, run, out)
    found = problems(pages, run, len(s.worker_ui_ports))
    if found:
        raise CdpError("; ".join(found))
    return pages
