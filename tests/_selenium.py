"""Headless Chromium through selenium and Debian's chromedriver, for the browser tests.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make system-deps`` installs them as root)
or ``$CHROMIUM`` / ``$CHROMEDRIVER`` naming the binaries: without them the tests fail with a
message saying so, they are never skipped. Every request a page makes is logged (Chrome's
performance log), so a test can check that a page fetches nothing from another host.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def _binary(env: str, *names: str) -> str:
    for name in filter(None, (os.environ.get(env), *names)):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"{names[0]} not found: install Debian's chromium and chromium-driver packages "
                       f"(`make system-deps` as root) or set ${env}")


def chrome(width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium whose window is ``width`` x ``height`` CSS pixels."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = _binary("CHROMIUM", "chromium", "chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(_binary("CHROMEDRIVER", "chromedriver")))
    driver.set_page_load_timeout(120)
    return driver


def wait_for(driver, script: str, timeout: float = 60, what: str | None = None):
    """Poll until the JavaScript expression ``script`` is truthy; returns its value."""
    last = []

    def check(d):
        last[:] = [d.execute_script(f"return ({script});")]
        return last[0]

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(check)
    except Exception as e:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or script} (last: {last}); "
                             f"console: {console_errors(driver)[-5:]}") from e


def requested_urls(driver) -> list[str]:
    """Every URL the page requested since the last call (the performance log is read once)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def external(urls: list[str]) -> list[str]:
    """The URLs that leave this machine (http(s)/ws to another host)."""
    return [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in LOCAL_HOSTS]


def console_errors(driver) -> list[str]:
    try:
        return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # the log is not available in every state
        return []


def too_wide(driver) -> list[str]:
    """Elements wider than the page (the window): tag, class and width of each."""
    return driver.execute_script("""
        const page = document.documentElement.clientWidth;
        return Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > page + 1)
            .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().width)}px`);
    """)


def broken_headers(driver, selector: str = ".studylib-table th") -> list[str]:
    """Visible table headers narrower than their longest word (a word: text between spaces, or up
    to an underscore, where a header may wrap): such a header breaks mid-word (``batc/h_siz/e``)."""
    return driver.execute_script("""
        const ctx = document.createElement('canvas').getContext('2d');
        return Array.from(document.querySelectorAll(arguments[0])).filter(th => th.offsetParent !== null)
            .filter(th => {
                const st = getComputedStyle(th);
                ctx.font = `${st.fontStyle} ${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
                const inner = th.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
                const words = th.textContent.trim().split(/\s+/).flatMap(w => w.split(/(?<=_)/));
                return Math.max(...words.map(w => ctx.measureText(w).width)) > inner + 0.5;
            }).map(th => th.textContent.trim());
    """, selector)


def scrolling_boxes(driver, selector: str) -> list[str]:
    """Elements inside ``selector`` (lists excepted) that scroll their content: a scrollbar of
    their own, hiding part of what they hold."""
    return driver.execute_script("""
        const root = document.querySelector(arguments[0]);
        if (!root) return ['(no ' + arguments[0] + ')'];
        return [root, ...root.querySelectorAll('*')].filter(e => !['SELECT', 'OPTION'].includes(e.tagName))
            .filter(e => {
                const st = getComputedStyle(e), scrolls = v => v === 'auto' || v === 'scroll';
                return (scrolls(st.overflowX) && e.scrollWidth > e.clientWidth + 1)
                    || (scrolls(st.overflowY) && e.scrollHeight > e.clientHeight + 1);
            }).map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}x${e.scrollHeight} in `
                        + `${e.clientWidth}x${e.clientHeight}`);
    """, selector)


def screenshot(driver, path: str | Path) -> Path:
    """A full-page PNG (the window stretched to the page's height)."""
    w, h = driver.execute_script("return [document.documentElement.scrollWidth, "
                                 "document.documentElement.scrollHeight];")
    size = driver.get_window_size()
    driver.set_window_size(size["width"], max(h, size["height"]))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return Path(path)


def wait_http(url: str, timeout: float = 60, proc=None) -> None:
    """Wait until ``url`` answers HTTP 200 (failing early if ``proc`` exits)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError as e:
            last = e
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s ({last})")
