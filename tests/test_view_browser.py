"""`evalkit view` in a real browser: headless Chromium driven by Selenium through chromedriver.

The app is served from the example suite's runs (as after `make example`); a person filters the
grid to one route's wrong answers, opens a case, reads the request and the retrieved chunks,
and a model output made of <script> and <img onerror> stays text. The bundle opens from file://.
Screenshots go to each test's tmp folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from view_runs import HOSTILE, HOSTILE_CASE, HOSTILE_ROUTE, reports_with_two_runs


def _which(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)


CHROMIUM, CHROMEDRIVER = _which("chromium"), _which("chromedriver")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
    ),
    pytest.mark.skipif(
        CHROMEDRIVER is None,
        reason="chromedriver is not installed (Debian: apt-get install chromium-driver; .ci/run installs it)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (it is in the dev extra)")
pytest.importorskip("starlette", reason="evalkit view needs the 'view' extra (starlette, uvicorn)")

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from evalkit.view.app import Background
from evalkit.view.bundle import write_bundle

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('profile')}", "--window-size=1400,1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser") / "reports"
    first, second = reports_with_two_runs(folder)
    return folder, first, second


@pytest.fixture(scope="module")
def app(reports):
    with Background([reports[0] / "support_triage"]) as server:
        yield server


def run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "manifest.json").read_text())["run_id"]


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def wait_for(driver, hash_: str) -> None:
    """Until the page has drawn the view of `hash_` (the page marks <body data-ready> when done)."""
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready") == hash_)


def go(driver, url: str, hash_: str) -> None:
    driver.get(url + hash_)
    wait_for(driver, hash_)


def shot(driver, path: Path) -> None:
    driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def visible_rows(driver) -> list:
    return [tr for tr in driver.find_elements(By.CSS_SELECTOR, "#grid tbody tr") if tr.is_displayed()]


def test_the_runs_page_lists_the_runs_and_charts_each_route(browser, app, reports, tmp_path):
    go(browser, app.url, "#/")
    listed = [tr.get_attribute("data-run") for tr in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert listed == [run_id(reports[2]), run_id(reports[1])]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline")) == 4  # one line per route
    assert "support_triage" in browser.find_element(By.ID, "runs").text
    shot(browser, tmp_path / "runs.png")


def test_filtering_to_one_routes_wrong_answers_then_opening_a_case(browser, app, reports, tmp_path):
    second = reports[2]
    go(browser, app.url, "#/")
    browser.find_element(By.CSS_SELECTOR, f'#runs tr[data-run="{run_id(second)}"] a').click()
    wait_for(browser, f"#/run/{run_id(second)}")
    assert len(visible_rows(browser)) == 46
    Select(browser.find_element(By.ID, "filter-route")).select_by_value("base")
    browser.find_element(By.ID, "wrong-only").click()

    wrong = sorted(r["case_id"] for r in rows_of(second) if r["route"] == "base" and not r["correct"])
    shown = visible_rows(browser)
    assert sorted(tr.get_attribute("data-case") for tr in shown) == wrong
    assert browser.find_element(By.ID, "shown").text == f"{len(wrong)} of 46 cases"
    assert all(tr.find_element(By.CSS_SELECTOR, 'td[data-route="base"] .answer').get_attribute("data-status") != "right"
               for tr in shown)
    assert not browser.find_element(By.CSS_SELECTOR, 'th[data-route="tuned"]').is_displayed()
    shot(browser, tmp_path / "grid-base-wrong.png")

    gold = {
        case["id"]: set(case.get("sources") or [])
        for case in map(json.loads, (second / "cases.jsonl").read_text().splitlines())
    }
    found_gold = {
        r["case_id"]
        for r in rows_of(second)
        if r["route"] == "rag" and any(c.rsplit("#", 1)[0] in gold[r["case_id"]] for c in r["retrieved"] or [])
    }
    rag_case = next(tr.get_attribute("data-case") for tr in shown if tr.get_attribute("data-case") in found_gold)
    next(tr for tr in shown if tr.get_attribute("data-case") == rag_case).find_element(
        By.CSS_SELECTOR, "a.case-link"
    ).click()
    wait_for(browser, f"#/case/{run_id(second)}/{rag_case}")
    assert browser.find_element(By.ID, "case-id").text == rag_case

    rag = browser.find_element(By.CSS_SELECTOR, '.route-column[data-route="rag"]')
    sent = next(json.loads(line) for line in (second / "requests.jsonl").read_text().splitlines()
                if json.loads(line)["case_id"] == rag_case and json.loads(line)["route"] == "rag")
    shown_messages = rag.find_elements(By.CSS_SELECTOR, ".request .message pre.content")
    assert [m.get_attribute("textContent") for m in shown_messages] == [m["content"] for m in sent["messages"]]
    user_line = sent["messages"][-1]["content"].splitlines()[0]
    assert user_line in rag.find_element(By.CSS_SELECTOR, ".request").text  # on screen, not only in the DOM

    row = next(r for r in rows_of(second) if (r["case_id"], r["route"]) == (rag_case, "rag"))
    chunks = rag.find_elements(By.CSS_SELECTOR, ".chunks li.chunk")
    assert [c.get_attribute("data-chunk") for c in chunks] == row["retrieved"]
    marks = ["not a gold source" not in c.text for c in chunks]
    assert marks == [chunk.rsplit("#", 1)[0] in gold[rag_case] for chunk in row["retrieved"]] and any(marks)
    assert all("score 0." in c.text for c in chunks)
    assert all(c.find_element(By.CSS_SELECTOR, "pre.chunk-text").text for c in chunks)
    columns = browser.find_elements(By.CSS_SELECTOR, ".route-column")
    assert [col.get_attribute("data-route") for col in columns] == ["base", "prompted", "rag", "tuned"]
    assert len({col.location["y"] for col in columns}) == 1  # side by side
    shot(browser, tmp_path / "case.png")


def test_a_model_output_of_script_and_img_onerror_stays_text(browser, app, reports, tmp_path):
    hash_ = f"#/case/{run_id(reports[2])}/{HOSTILE_CASE}"
    go(browser, app.url, hash_)
    column = browser.find_element(By.CSS_SELECTOR, f'.route-column[data-route="{HOSTILE_ROUTE}"]')
    assert column.find_element(By.CSS_SELECTOR, "pre.output").text == HOSTILE
    assert HOSTILE in browser.find_element(By.CSS_SELECTOR, "pre.case-input").text  # the case's own text too
    assert browser.title == "evalkit view"
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert browser.execute_script("return document.images.length") == 0
    shot(browser, tmp_path / "hostile.png")


def test_the_diff_shows_the_one_answer_that_moved(browser, app, reports):
    first, second = run_id(reports[1]), run_id(reports[2])
    go(browser, app.url, f"#/diff/{first}/{second}")
    moved = [tr for tr in browser.find_elements(By.CSS_SELECTOR, "table.diff tbody tr") if tr.is_displayed()]
    assert [tr.get_attribute("data-case") for tr in moved] == [HOSTILE_CASE]
    cell = moved[0].find_element(By.CSS_SELECTOR, f'td[data-route="{HOSTILE_ROUTE}"]')
    assert cell.get_attribute("data-change") == "broken"


def test_the_bundle_opens_from_file_on_the_grid_with_every_case(browser, reports, tmp_path):
    second = reports[2]
    index = write_bundle(tmp_path / "bundle", [second])
    browser.get(index.as_uri())
    wait_for(browser, "#/")
    listed = [tr.get_attribute("data-case") for tr in browser.find_elements(By.CSS_SELECTOR, "#grid tbody tr")]
    expected = [json.loads(line)["id"] for line in (second / "cases.jsonl").read_text().splitlines()]
    assert listed == expected and len(listed) == 46
    assert browser.find_element(By.ID, "shown").text == "46 of 46 cases"
    shot(browser, tmp_path / "bundle-grid.png")

    browser.get(f"{index.as_uri()}#/case/{run_id(second)}/{HOSTILE_CASE}")
    wait_for(browser, f"#/case/{run_id(second)}/{HOSTILE_CASE}")
    column = browser.find_element(By.CSS_SELECTOR, f'.route-column[data-route="{HOSTILE_ROUTE}"]')
    assert column.find_element(By.CSS_SELECTOR, "pre.output").text == HOSTILE
    assert browser.title == "evalkit view" and browser.execute_script("return document.images.length") == 0


def test_the_pages_raise_no_error_in_the_console(browser, app, reports):
    browser.get_log("browser")  # what earlier tests left
    first, second = run_id(reports[1]), run_id(reports[2])
    for hash_ in ("#/", f"#/run/{second}", f"#/case/{second}/{HOSTILE_CASE}", f"#/diff/{first}/{second}"):
        go(browser, app.url, hash_)
    assert [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_tag_search_and_changed_between_two_routes_filter_the_grid(browser, app, reports):
    second = reports[2]
    go(browser, app.url, f"#/run/{run_id(second)}")
    cases = {c["id"]: c for c in map(json.loads, (second / "cases.jsonl").read_text().splitlines())}
    first_answer = {
        (r["case_id"], r["route"]): (r["predicted_label"], r["correct"], r["parsed_ok"]) for r in rows_of(second)
    }

    def shown_ids():
        return sorted(tr.get_attribute("data-case") for tr in visible_rows(browser))

    Select(browser.find_element(By.ID, "filter-tag")).select_by_value("terse")
    assert shown_ids() == sorted(i for i, c in cases.items() if "terse" in c.get("tags", []))
    Select(browser.find_element(By.ID, "filter-tag")).select_by_value("")

    Select(browser.find_element(By.ID, "changed-a")).select_by_value("base")
    Select(browser.find_element(By.ID, "changed-b")).select_by_value("tuned")
    changed = sorted(i for i in cases if first_answer[(i, "base")] != first_answer[(i, "tuned")])
    assert shown_ids() == changed and 0 < len(changed) < 46
    assert browser.find_element(By.ID, "shown").text == f"{len(changed)} of 46 cases"
    Select(browser.find_element(By.ID, "changed-a")).select_by_value("")

    browser.find_element(By.ID, "search").send_keys("Authenticator")
    assert shown_ids() == sorted(i for i, c in cases.items() if "authenticator" in json.dumps(c["input"]).lower())


def test_the_arrow_keys_step_through_the_cases(browser, app, reports):
    from selenium.webdriver.common.keys import Keys

    go(browser, app.url, f"#/case/{run_id(reports[2])}/st-h-002")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    wait_for(browser, f"#/case/{run_id(reports[2])}/st-h-003")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    wait_for(browser, f"#/case/{run_id(reports[2])}/st-h-002")
    assert browser.find_element(By.ID, "case-id").text == "st-h-002"
