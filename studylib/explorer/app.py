"""``studylib explore [DIR ...]``: the interactive explorer (``notebooks/explore.ipynb``) as a web app.

Serves the explorer notebook with Voilà on ``http://127.0.0.1:PORT/`` (code hidden, widgets
live, one kernel per browser tab, Voilà's ``studylib`` template: nothing fetched from a CDN) and
prints that URL; the server's own log goes to a file. ``--lab`` opens the same notebook in
JupyterLab instead (when it is installed). ``DIR`` is a ledger file or a folder searched
recursively for ``ledger.sqlite`` (a ``studylib run`` report folder, a ``studylib search
--out`` folder); default ``reports/``. The sources reach the notebook's kernel through
``$STUDYLIB_EXPLORE``.

Bad input (a missing folder, one without ledgers, a file that is not a ledger, a busy port,
``--lab`` without JupyterLab): one line, exit 2, nothing started. Heavy imports stay inside
functions: ``studylib --help`` loads this module.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .. import paths
from ..cliargs import port_number
from ..errors import StudyError
from ..interrupts import stop_handled
from ..notebook_exec import KERNEL_ARGV
from ..progress import count

NOTEBOOK = "explore.ipynb"
HOST = "127.0.0.1"


def add_arguments(p) -> None:
    p.add_argument("sources", nargs="*", metavar="DIR",
                   help="ledger.sqlite files, or folders searched recursively for them (report folders of "
                        "`studylib run`, --out folders of `studylib search`); default: reports/")
    p.add_argument("--port", type=port_number, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL; do not open a browser")
    p.add_argument("--lab", action="store_true",
                   help="open the explorer notebook in JupyterLab instead of Voila (needs jupyterlab)")
    p.description = ("Open the interactive explorer of trial ledgers as a local web app (Voila): filter "
                     "trials, plot them, rank them, see which hyperparameters matter, run more trials. "
                     "Prints the URL; Ctrl-C stops it.")


def notebook_path() -> Path:
    for folder in (paths.NOTEBOOKS_DIR, paths.REPO_ROOT / "notebooks"):
        if (Path(folder) / NOTEBOOK).is_file():
            return (Path(folder) / NOTEBOOK).resolve()
    raise StudyError(f"the explorer notebook {NOTEBOOK} is missing from {paths.NOTEBOOKS_DIR}")


def resolve_sources(sources: list[str]) -> tuple[list[str], list[Path]]:
    """Absolute sources and the ledgers they hold; :class:`StudyError` for a bad one."""
    from .ledgers import find_ledgers  # pandas: not for `studylib --help`

    given = sources or [str(paths.REPORTS_DIR)]
    ledgers: list[Path] = []
    skipped: list[str] = []
    for s in given:
        if not sources and not Path(s).exists():
            raise StudyError(f"no reports folder {s} yet: pass DIR (a folder with ledger.sqlite files), or run "
                             "`studylib run` / `studylib search` first")
        ledgers += find_ledgers(s, skipped)
    for line in skipped:  # the explorer shows them too, above its controls
        sys.stderr.write(f"studylib: note: {line}\n")
    return [str(Path(s).expanduser().resolve()) for s in given], list(dict.fromkeys(ledgers))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise StudyError(f"port {port} on {HOST} is in use (choose another with --port)") from None


def _kernelspec(folder: Path) -> None:
    """A ``python3`` kernelspec running *this* interpreter, found first through ``JUPYTER_PATH``:
    the explorer's kernel always has studylib, whatever other kernelspecs this machine has."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": KERNEL_ARGV,
        "display_name": "Python 3 (studylib)", "language": "python", "metadata": {"debugger": False}}))


def command(nb: Path, port: int, *, lab: bool, no_browser: bool, token: str = "") -> list[str]:
    if lab:
        cmd = [sys.executable, "-m", "jupyterlab", str(nb), f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={nb.parent}",
               f"--IdentityProvider.token={token}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers, CI: Lab refuses root otherwise
            cmd.append("--ServerApp.allow_root=True")
    else:
        cmd = [sys.executable, "-m", "voila", str(nb), f"--Voila.ip={HOST}", f"--port={port}",
               "--Voila.port_retries=0", "--strip_sources=True", "--show_tracebacks=True", "--theme=light",
               "--template=studylib"]  # studylib/jupyter/voila/templates/studylib: no CDN
    return cmd + (["--no-browser"] if no_browser else [])


def die_with_parent():
    """A ``preexec_fn`` for the server (Linux; elsewhere None): the kernel sends it SIGTERM when the
    explorer dies, also by ``kill -9``, which no handler sees (the server then shuts its kernels
    down). ``prctl`` is looked up here, in the explorer: the forked child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the explorer died before the call
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def main(args) -> int:
    import importlib.util
    import secrets
    import tempfile

    sources, ledgers = resolve_sources(args.sources)
    nb = notebook_path()
    if args.lab and importlib.util.find_spec("jupyterlab") is None:
        raise StudyError("--lab needs JupyterLab, which is not installed (pip install jupyterlab); "
                         "without --lab the explorer runs in Voila")
    if not args.lab and importlib.util.find_spec("voila") is None:
        raise StudyError("the explorer needs Voila, which is not installed (pip install voila)")
    port = args.port or free_port()
    _check_port(port)
    from .ledgers import ENV_SOURCES

    token = secrets.token_hex(16) if args.lab else ""
    url = f"http://{HOST}:{port}/" + (f"lab/tree/{nb.name}?token={token}" if args.lab else "")
    env = dict(os.environ)
    env[ENV_SOURCES] = os.pathsep.join(sources)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="studylib-explore-") as tmp:
        _kernelspec(Path(tmp))
        env["JUPYTER_PATH"] = os.pathsep.join([tmp, str(paths.JUPYTER_DIR),
                                               *filter(None, [os.environ.get("JUPYTER_PATH")])])
        n = len(ledgers)
        print(f"studylib explorer on {count(n, 'ledger')} ({', '.join(sources)}): {url}", flush=True)
        # the server's and kernels' own log lines (start-up, TCP warnings) go to a file, not the terminal
        log_path = Path(tempfile.gettempdir()) / f"studylib-explore-{port}.log"
        print(f"(Ctrl-C to stop; server log: {log_path})", flush=True)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command(nb, port, lab=args.lab, no_browser=args.no_browser, token=token),
                                    env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent())

        return _wait_for_server(proc, log_path)  # in the with: the kernelspec outlives the server


def _wait_for_server(proc: subprocess.Popen, log_path: Path) -> int:
    """Wait for the explorer's server ``proc`` to stop; its exit code (its log's last lines on
    stderr when not 0). Ctrl-C, SIGTERM or SIGHUP stop it (0; its log deleted unless it had to be killed)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    try:  # a terminated explorer (or its closed terminal, unless under nohup) takes its server along
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)
                    if signal.getsignal(sig) is not signal.SIG_IGN}
    except ValueError:  # not the main thread
        previous = None
    try:
        code = proc.wait()
        if code:  # the server could not start or died: its last lines say why
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            sys.stderr.write("\n".join(["the explorer's server stopped with code %d:" % code, *tail]) + "\n")
        return code
    except KeyboardInterrupt:
        stop_handled()  # the explorer's end, not a command stopped part way
        proc.terminate()  # the server shuts its kernels down
        try:
            proc.wait(timeout=20)
            log_path.unlink(missing_ok=True)  # a clean stop: nothing to read in it
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print("explorer stopped", flush=True)
        return 0
    finally:
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)
