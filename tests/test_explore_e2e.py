"""End to end in a real browser (headless Chromium through selenium and Debian's chromedriver,
tests/_selenium.py): ``studylib explore`` serves the explorer with Voilà and a filter changed in
the page updates it; the reports ``studylib run`` publishes open with every figure loaded. No
page requests anything from another host (a report opened offline is complete).

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them as root).
Without them these tests fail with a message saying so: they are never skipped.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from _ledgers import fake_ledger
from _selenium import (broken_headers, chrome, console_errors, external, requested_urls, screenshot, scrolling_boxes,
                       too_wide, wait_for, wait_http)

COUNT = "(document.querySelector('.studylib-count') || {}).innerText || ''"
PLOT = "document.querySelector('img.studylib-plot')"
WIDTH = 1400


@pytest.fixture(scope="module")
def browser():
    driver = chrome(width=WIDTH, height=1000)
    yield driver
    driver.quit()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def explorer(tmp_path):
    """``studylib explore DIR --port P --no-browser`` on two made-up 8-trial ledgers (one with every
    hyperparameter of round 2: a table as wide as a real one); yields (url, proc, log)."""
    fake_ledger(tmp_path / "reports" / "round1")
    fake_ledger(tmp_path / "reports" / "round2", space="round2", wide=True)
    port = free_port()
    log_path = tmp_path / "explore.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "studylib.cli", "explore", str(tmp_path / "reports"),
                             "--port", str(port), "--no-browser"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_http(url, timeout=90, proc=proc)
        except Exception:
            raise AssertionError(f"the explorer did not start:\n{log_path.read_text()[-3000:]}") from None
        yield url, proc, log_path
    finally:
        try:  # the whole group, also after the explorer itself has died
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


def click_text(driver, selector: str, text: str) -> None:
    """A user's click on the element matching ``selector`` whose text is ``text``."""
    matches = [e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.text.strip() == text]
    assert matches, f"nothing in the page matches {selector!r} with text {text!r}"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", matches[0])
    ActionChains(driver).move_to_element(matches[0]).click().perform()  # the mouse, not WebDriver's toggle


def wait_plot_changed(driver, old_src: str) -> str:
    return wait_for(driver, f"(p => p && p.src !== {old_src!r} && p.complete && p.naturalWidth > 0 && p.src)({PLOT})",
                    timeout=60, what="the figure to be redrawn")


def test_explorer_web_app_updates_when_a_filter_changes(browser, explorer, tmp_path):
    url, proc, log_path = explorer
    lines = log_path.read_text().splitlines()
    assert url in lines[0] and "2 ledgers" in lines[0]
    assert len(lines) == 2 and "server log:" in lines[1], lines  # the server's own lines go to that log

    requested_urls(browser)  # drop what earlier pages requested
    browser.get(url)
    try:
        assert wait_for(browser, COUNT, timeout=150, what="the explorer to render").startswith("16 of 16 trials")
    except AssertionError:
        screenshot(browser, tmp_path / "explorer-failed.png")
        raise AssertionError(f"explorer page did not render; console {console_errors(browser)}; server log:\n"
                             f"{log_path.read_text()[-3000:]}") from None
    page = browser.execute_script("return document.documentElement.outerHTML;")
    for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com"):  # not even a script that could fetch
        assert cdn not in page, cdn  # from one (nbconvert's mermaid loader imports from cdnjs)
    src = wait_for(browser, f"(p => p && p.complete && p.naturalWidth > 0 && p.src)({PLOT})", timeout=30,
                   what="the figure to load")
    rows = "document.querySelectorAll('.studylib-table table')[0].tBodies[0].rows.length"
    assert browser.execute_script(f"return {rows};") == 10  # the top 10
    assert broken_headers(browser) == []  # batch_/size at most, never batc/h_siz/e
    # the sidebar scrolls with the page, no box in it has a scrollbar of its own, the seed box shows whole
    assert not (boxes := scrolling_boxes(browser, ".studylib-sidebar")), "\n".join(boxes)
    seed, side = (browser.execute_script(f"return document.querySelector('{c}').getBoundingClientRect().right;")
                  for c in (".studylib-seed input", ".studylib-sidebar"))
    assert seed <= side

    # a user's click on "ok" in the status list (a plain click picks that value only)
    click_text(browser, ".studylib-filter-status option", "ok")
    wait_for(browser, f"{COUNT}.startsWith('12 of 16 trials')", timeout=30, what="the count to read 12 of 16")
    src = wait_plot_changed(browser, src)
    wait_for(browser, f"{rows} === 10", timeout=30, what="the table to show 10 rows")

    # a learning rate: the figure, the table and the count follow
    click_text(browser, ".studylib-filter-learning_rate option", "0.01")  # 0.01 only
    wait_for(browser, f"{COUNT}.startsWith('4 of 16 trials')", timeout=30, what="the count to read 4 of 16")
    src = wait_plot_changed(browser, src)
    wait_for(browser, f"{rows} === 4", timeout=30, what="the table to show 4 rows")

    # the plot kind
    click_text(browser, ".widget-toggle-buttons button", "box")
    wait_plot_changed(browser, src)
    active = browser.execute_script("return Array.from(document.querySelectorAll('.widget-toggle-buttons "
                                    "button.mod-active')).map(b => b.innerText.trim());")
    assert active.count("box") == 1
    assert not [e for e in console_errors(browser) if "Uncaught" in e or "Error" in e], console_errors(browser)
    urls = requested_urls(browser)
    assert any(u.startswith(url) for u in urls) and external(urls) == []  # nothing fetched from the internet
    assert too_wide(browser) == []  # everything fits a 1,400 px window
    screenshot(browser, tmp_path / "explorer.png")

    # SIGTERM to `studylib explore` stops the server (and its kernels) too
    server_log = log_path.read_text().splitlines()[1].split("server log: ")[1].rstrip(")")
    assert os.path.exists(server_log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "explorer stopped" in log_path.read_text()
    assert not os.path.exists(server_log)  # a clean stop leaves no log behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), timeout=2).close()


def test_an_explorer_killed_with_sigkill_takes_its_server_along(explorer):
    """No handler sees kill -9: the server learns of it from the kernel (Linux) and stops."""
    url, proc, _ = explorer
    os.kill(proc.pid, signal.SIGKILL)  # the explorer only, not its process group
    proc.wait()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"the server still answers on port {port} 30 s after its explorer was killed")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """``studylib run all`` and ``studylib run compare`` (tiny settings) into one folder."""
    out = tmp_path_factory.mktemp("published") / "reports"
    tiny = ["--dataset", "digits", "--profile", "smoke", "--trials", "2", "--max-epochs", "1", "--out", str(out),
            "--no-progress"]
    for argv in (["all"], ["compare", "--seeds", "2", "--train-size", "300", "-p", "bench_seeds=3",
                           "-p", "bench_budget=20"]):
        r = subprocess.run([sys.executable, "-m", "studylib.cli", "run", *argv, *tiny], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out


@pytest.mark.slow
def test_published_reports_open_offline_with_every_figure_within_the_page(browser, published, tmp_path):
    requested_urls(browser)
    browser.get((published / "index.html").as_uri())
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'));")
    for link in hrefs:
        assert (published / link).is_file(), link  # every link of the index points at a file that is there
    reports = [h for h in hrefs if h.endswith(".html")]
    assert reports == ["round1.html", "round2.html", "round3.html", "compare.html"]
    assert external(requested_urls(browser)) == [] and too_wide(browser) == []

    browser.find_element(By.CSS_SELECTOR, "a[href='round1.html']").click()  # as a reader would
    wait_for(browser, "location.href.endsWith('/round1.html') && document.readyState === 'complete'", timeout=60,
             what="round1.html to open")
    assert browser.find_element(By.TAG_NAME, "body").text.count("Fig. 3") >= 1
    for report in reports:
        if not browser.current_url.endswith("/" + report):
            browser.get((published / report).as_uri())
        images = browser.execute_script("""return Array.from(document.images).map(img =>
            ({src: img.src.slice(0, 40), complete: img.complete, width: img.naturalWidth,
              shown: Math.round(img.getBoundingClientRect().width)}));""")
        assert images, f"{report} has no figure"
        assert [i for i in images if not (i["complete"] and i["width"] > 0)] == [], report
        urls = requested_urls(browser)
        assert any(u.endswith("/" + report) for u in urls)
        assert external(urls) == [], report  # no CDN: require.js, MathJax... left out
        assert too_wide(browser) == [], report  # appendix tables included: all within 1,400 px
        screenshot(browser, tmp_path / report.replace(".html", ".png"))

    # the explorer opens the same folder: every round's ledgers are found in their subfolders
    from studylib.explorer import find_ledgers

    found = {p.parent.relative_to(published).parts[0] for p in find_ledgers(published)}
    assert found == {"round1", "round2", "round3", "compare"}


def _appendix_report(tmp_path, seeds: int = 3, trials: int = 30):
    """Round 2's Appendix 2 as a published report holds it (values drawn from the round's space,
    accuracies with four decimals), rendered through the report template."""
    import nbformat
    import numpy as np
    import pandas as pd

    from studylib.report.publish import render_html
    from studylib.report.tables import appendix_table
    from studylib.space_file import load_space

    space, rng = load_space("round2"), np.random.default_rng(0)
    rows = []
    for i in range(trials * seeds):
        config = {d.name: d.values[rng.integers(len(d.values))] for d in space.dimensions}
        acc = float(rng.uniform(0.1, 0.99))
        rows.append({"trial": i % trials + 1, **config, "best_acc": acc, "best_loss": 2.2 - acc, "test_acc": acc - 0.01,
                     "best_train_acc": acc + 0.01, "best_train_loss": 2.1 - acc, "epochs": int(rng.integers(5, 120)),
                     "seed": i // trials, "status": "ok", "study_id": f"round2-random-s{i // trials}"})
    styled = appendix_table(pd.DataFrame(rows), "round2", styled=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("appendix", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": styled.to_html()})])])
    ipynb = tmp_path / "round2.ipynb"
    nbformat.write(nb, str(ipynb))
    return render_html(ipynb, tmp_path / "round2.html", title="round2")


def test_round2_appendix_fits_1400px_with_test_acc_visible(browser, tmp_path):
    browser.get(_appendix_report(tmp_path).as_uri())
    wait_for(browser, "document.readyState === 'complete'", timeout=60, what="the report to load")
    assert too_wide(browser) == []  # no column beyond the window
    assert broken_headers(browser, "table thead th") == []
    scrolled = browser.execute_script("""return Array.from(document.querySelectorAll('*')).filter(e =>
        e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
        .map(e => `${e.tagName}.${e.className} ${e.scrollWidth} in ${e.clientWidth}`);""")
    assert scrolled == []  # no horizontal scrollbar hides a column
    headers = browser.execute_script("return Array.from(document.querySelectorAll('table thead th'))"
                                     ".map(th => th.textContent.trim());")
    assert "test_acc" in headers and "border_crop" in headers and "seed" in headers
