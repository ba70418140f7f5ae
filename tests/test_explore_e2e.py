"""End to end in a real browser (headless Chromium over the DevTools protocol, tests/_browser.py):
``studylib explore`` serves the explorer with Voilà and a filter changed in the page updates it;
the reports ``studylib run`` publishes open with every figure loaded.

Needs Debian's ``chromium`` (``make test`` installs it as root). Without it these tests fail
with a message saying so: they are never skipped.
"""
import os
import signal
import socket
import subprocess
import sys

import pytest

from _browser import Browser, fake_ledger, wait_http

COUNT = "(document.querySelector('.studylib-count') || {}).innerText || ''"
PLOT = "document.querySelector('img.studylib-plot')"


@pytest.fixture(scope="module")
def browser():
    b = Browser(width=1400, height=1000)
    yield b
    b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def explorer(tmp_path):
    """``studylib explore DIR --port P --no-browser`` on a made-up 8-trial ledger; yields (url, proc, log)."""
    fake_ledger(tmp_path / "reports" / "round1")
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
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def wait_plot_changed(browser, old_src: str) -> str:
    return browser.wait_for(f"(p => p && p.src !== {old_src!r} && p.complete && p.naturalWidth > 0 && p.src)({PLOT})",
                            timeout=60, what="the figure to be redrawn")


def test_explorer_web_app_updates_when_a_filter_changes(browser, explorer, tmp_path):
    url, proc, log_path = explorer
    first_line = log_path.read_text().splitlines()[0]
    assert url in first_line and "1 ledger" in first_line

    browser.goto(url, timeout=60)
    try:
        assert browser.wait_for(COUNT, timeout=150, what="the explorer to render").startswith("8 of 8 trials")
    except Exception:
        browser.screenshot(tmp_path / "explorer-failed.png")
        raise AssertionError(f"explorer page did not render; page errors {browser.errors()}; server log:\n"
                             f"{log_path.read_text()[-3000:]}") from None
    src = browser.wait_for(f"(p => p && p.complete && p.naturalWidth > 0 && p.src)({PLOT})", timeout=30,
                           what="the figure to load")
    rows = "document.querySelectorAll('.studylib-table table')[0].tBodies[0].rows.length"
    assert browser.evaluate(rows) == 8

    # a user's click on "ok" in the status list (a plain click picks that value only)
    browser.click_text(".studylib-filter-status option", "ok")
    browser.wait_for(f"{COUNT}.startsWith('6 of 8 trials')", timeout=30, what="the count to read 6 of 8")
    src = wait_plot_changed(browser, src)
    browser.wait_for(f"{rows} === 6", timeout=30, what="the table to show 6 rows")

    # a learning rate: the figure, the table and the count follow
    browser.click_text(".studylib-filter-learning_rate option", "0.01")  # 0.01 only
    browser.wait_for(f"{COUNT}.startsWith('2 of 8 trials')", timeout=30, what="the count to read 2 of 8")
    src = wait_plot_changed(browser, src)

    # the plot kind
    browser.click_text(".widget-toggle-buttons button", "box")
    wait_plot_changed(browser, src)
    assert browser.evaluate("Array.from(document.querySelectorAll('.widget-toggle-buttons button.mod-active'))"
                            ".map(b => b.innerText.trim())").count("box") == 1
    assert not [e for e in browser.errors() if "Uncaught" in e or "Error" in e], browser.errors()
    browser.screenshot(tmp_path / "explorer.png")

    # SIGTERM to `studylib explore` stops the server (and its kernels) too
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "explorer stopped" in log_path.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))), timeout=2).close()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("published") / "reports"
    r = subprocess.run([sys.executable, "-m", "studylib.cli", "run", "round1", "--dataset", "digits", "--profile",
                        "smoke", "--trials", "2", "--max-epochs", "1", "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return out


def test_published_reports_open_with_every_figure(browser, published):
    browser.goto((published / "index.html").as_uri())
    links = browser.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
    assert "round1.html" in links
    for link in links:  # every link of the index points at a file that is there
        assert (published / link).is_file(), link

    browser.click_selector("a[href='round1.html']")  # as a reader would
    browser.wait_for("location.href.endsWith('/round1.html') && document.readyState === 'complete'", timeout=60,
                     what="round1.html to open")
    images = browser.images()
    assert images, "the round report has no figure"
    broken = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, broken
    assert browser.evaluate("document.body.innerText").count("Fig. 3") >= 1

    # the explorer opens the same folder: the round's ledger is found in its subfolder
    from studylib.widgets import find_ledgers

    assert [p.parent.name for p in find_ledgers(published)] == ["round1"]
