"""Helpers for the explorer's tests: made-up ledgers (``fake_ledger``) and a headless Chromium
driven over the Chrome DevTools protocol (``Browser``) for the end-to-end tests.

No Python package beyond the standard library: Chromium is started with
``--remote-debugging-pipe`` and spoken to through two pipes (file descriptors 3 and 4 of the
child, NUL-terminated JSON messages), so there is no WebDriver, no websocket and no debugging port.
Needs Debian's ``chromium`` (``apt-get install -y chromium``) or ``$CHROMIUM`` naming a binary.

Also a tool: ``python tests/_browser.py screenshot URL OUT.png [--wait JS] [--width W --height H]``.
"""
from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]


class BrowserError(RuntimeError):
    pass


# -- ledgers with made-up results ---------------------------------------------------------------

def fake_ledger(folder: Path, n: int = 8, *, seed: int = 0, strategy: str = "random", space: str = "round1") -> Path:
    """``folder/ledger.sqlite`` with ``n`` (<= 8) made-up trials in one study, written through
    ``Ledger.record`` as :class:`~studylib.trial.Trial` s: learning rate 0.001 gives 0.80-0.83, 0.01 gives 0.14-0.17; trial 7 (1-based)
    diverged, trial 8 failed (no accuracy). Returns the ledger's path."""
    import itertools

    from studylib.ledger import Ledger
    from studylib.trial import Trial

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ledger.sqlite"
    budget = {"max_epochs": 2, "patience": 4}
    study_id = f"{space}-{strategy}-s{seed}-fake"
    with Ledger(path) as led:
        led.open_study(study_id, {"space": space, "space_hash": "", "strategy": strategy, "strategy_options": {},
                                  "seed": seed, "dataset": "digits", "data_hash": "fake", "budget": budget},
                       {"data": {"train_size": 1000, "val_size": 300, "test_size": 300}})
        combos = list(itertools.product([0.001, 0.01], [32, 64], [16, 32]))[:n]
        for i, (lr, bs, f1) in enumerate(combos):
            acc = (0.8 if lr == 0.001 else 0.1) + 0.01 * i
            status = "failed" if i == 7 else "diverged" if i == 6 else "ok"
            nan = float("nan")
            metrics = {"best_acc": nan if status == "failed" else acc, "test_acc": nan if status == "failed" else acc - 0.02,
                       "best_loss": nan if status == "failed" else 2.0 - acc, "best_train_acc": acc,
                       "best_train_loss": 2.0 - acc, "best_epoch": 2, "params": 1000 * (i + 1)}
            key = f"{space}-{seed}-{i}"
            led.record(Trial(key, {"learning_rate": lr, "batch_size": bs, "filters1": f1}, status=status,
                             metrics=metrics, epochs=2, wall_time=1.0 + i, error="boom" if status == "failed" else "",
                             seed=seed, dataset="digits", budget=budget))
            led.add_to_study(study_id, key)
    return path


def chromium_path() -> str:
    """The Chromium binary; a clear error when there is none (the test must fail, not skip)."""
    for name in filter(None, (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome")):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("headless Chromium not found: install Debian's chromium package "
                       "(apt-get install -y chromium; `make test` does it as root) or set $CHROMIUM")


class Browser:
    """One headless Chromium with one page (tab). ``evaluate`` runs JavaScript in the page."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="studylib-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds():  # in the child: the DevTools pipe ends as fds 3 (commands in) and 4 (replies out)
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.setsid()

        self.log_path = Path(self.profile) / "chromium.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={self.profile}",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     preexec_fn=fds, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._ids = itertools.count(1)
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    # -- protocol -------------------------------------------------------------------------------
    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._replies[-1] = {"error": {"message": "Chromium closed the DevTools pipe"}}
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._cond.notify_all()

    def call(self, method: str, timeout: float | None = None, **params) -> dict:
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while msg_id not in self._replies:
                if -1 in self._replies:
                    raise BrowserError(f"{method}: Chromium went away (log: {self._tail()})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"{method}: no answer from Chromium in {timeout or self.timeout} s")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-800:]
        except OSError:
            return ""

    # -- page -----------------------------------------------------------------------------------
    def goto(self, url: str, timeout: float = 60) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout=timeout, what=f"{url} to load")

    def evaluate(self, expression: str, timeout: float | None = None):
        """Value of a JavaScript expression (promises awaited)."""
        r = self.call("Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(f"JavaScript error: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60, what: str | None = None, interval: float = 0.25):
        """Poll until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BrowserError as e:
                last = str(e)
                if "went away" in last:
                    raise
            else:
                if last:
                    return last
            time.sleep(interval)
        raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what or expression} (last: {last!r}); "
                           f"page errors: {self.errors()[-5:]}")

    def click(self, x: float, y: float, modifiers: int = 0) -> None:
        """A real mouse click at page coordinates (CSS pixels)."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, modifiers=modifiers, **extra)

    def click_element(self, element_js: str, modifiers: int = 0, what: str | None = None) -> None:
        """Scroll the element ``element_js`` (a JavaScript expression) into view and click its
        centre with the mouse (``modifiers``: 2 = Ctrl, 8 = Shift)."""
        box = self.evaluate(f"""(() => {{
            const el = {element_js};
            if (!el) return null;
            el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }})()""")
        if not box:
            raise BrowserError(f"nothing in the page matches {what or element_js}")
        self.click(*box, modifiers=modifiers)

    def click_selector(self, selector: str, modifiers: int = 0) -> None:
        self.click_element(f"document.querySelector({json.dumps(selector)})", modifiers, what=repr(selector))

    def click_text(self, selector: str, text: str, modifiers: int = 0) -> None:
        """Click the element matching ``selector`` whose text is ``text`` (an option, a button)."""
        self.click_element(f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                           f".find(e => e.textContent.trim() === {json.dumps(text)})", modifiers,
                           what=f"{selector!r} with text {text!r}")

    def choose(self, label: str, option: str) -> None:
        """Pick ``option`` in the ipywidgets dropdown whose description is ``label`` (as a user
        does with the keyboard: the <select>'s value changes and it fires ``change``)."""
        ok = self.evaluate(f"""(() => {{
            const box = Array.from(document.querySelectorAll('.widget-dropdown'))
                .find(d => (d.querySelector('label') || {{}}).textContent === {json.dumps(label)});
            if (!box) return false;
            const sel = box.querySelector('select');
            const i = Array.from(sel.options).findIndex(o => o.textContent.trim() === {json.dumps(option)});
            if (i < 0) return false;
            sel.selectedIndex = i;
            sel.dispatchEvent(new Event('change', {{bubbles: true}}));
            return true;
        }})()""")
        if not ok:
            raise BrowserError(f"no dropdown {label!r} with an option {option!r} in the page")

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        params = {"format": "png"}
        if full_page:
            w, h = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": w, "height": h, "scale": 1})
        data = self.call("Page.captureScreenshot", **params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self) -> list[str]:
        """Uncaught exceptions and console errors the page reported so far."""
        out = []
        for e in list(self.events):
            if e.get("method") == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", ""))
            elif e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]))
        return out

    def failed_requests(self) -> list[str]:
        """URLs the page failed to load (network errors, HTTP >= 400)."""
        urls = {}
        for e in list(self.events):
            p = e.get("params", {})
            if e.get("method") == "Network.requestWillBeSent":
                urls[p["requestId"]] = p["request"]["url"]
        out = []
        for e in list(self.events):
            p = e.get("params", {})
            if e.get("method") == "Network.loadingFailed" and not p.get("canceled"):
                out.append(f"{urls.get(p['requestId'], '?')} ({p.get('errorText')})")
            elif e.get("method") == "Network.responseReceived" and p["response"]["status"] >= 400:
                out.append(f"{p['response']['url']} (HTTP {p['response']['status']})")
        return out

    def images(self) -> list[dict]:
        """Every <img> of the page: its src (shortened), natural size, and whether it is complete."""
        return self.evaluate("""Promise.all(Array.from(document.images).map(img =>
            (img.complete ? Promise.resolve() : new Promise(r => { img.onload = img.onerror = r; }))
            .then(() => ({src: img.src.slice(0, 60), complete: img.complete,
                          width: img.naturalWidth, height: img.naturalHeight}))))""")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers HTTP 200 (failing early if ``proc`` exits)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrowserError(f"the server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError as e:
            last = e
        time.sleep(0.3)
    raise BrowserError(f"{url} did not answer in {timeout:.0f} s ({last})")


def _main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="screenshot a page with headless Chromium")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("screenshot")
    s.add_argument("url")
    s.add_argument("out")
    s.add_argument("--wait", default="true", help="JavaScript expression to wait for before the shot")
    s.add_argument("--width", type=int, default=1400)
    s.add_argument("--height", type=int, default=1000)
    s.add_argument("--viewport", action="store_true", help="only the viewport, not the full page")
    args = p.parse_args(argv)
    with Browser(args.width, args.height) as b:
        b.goto(args.url, timeout=120)
        b.wait_for(args.wait, timeout=180)
        time.sleep(1.0)
        print(b.screenshot(args.out, full_page=not args.viewport))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
