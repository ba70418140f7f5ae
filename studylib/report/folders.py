"""Where a round's report goes and what it leaves there for ``index.html``: the default folder,
named after the settings that change its results (:func:`default_out_dir`, :func:`options_tag`),
and ``summary.json`` (:func:`write_summary`, :func:`read_summary`). No randomness."""
from __future__ import annotations

import json
from numbers import Integral
from pathlib import Path
from typing import Any

from .. import atomic, defaults, paths

SUMMARY_JSON = "summary.json"


def default_out_dir(dataset: str, profile: str, *, strategy: str = defaults.STRATEGY, train_size=None, max_epochs=None,
                    patience=None, seed=0, repeats=None, strategy_options=None) -> Path:
    """``reports/<dataset>-<profile>``, plus a tag for each setting given that changes the results
    (``-memetic``, ``-train10000``, ``-e9``, ``-p3``, ``-s3``, ``-x2`` for 2 repeats, and the
    strategy's options: ``-population_size12``, :func:`options_tag`): where ``studylib run``
    publishes by default, and where a notebook run without ``out_dir`` writes (so that a notebook
    run by papermill and ``studylib run`` with the same settings agree)."""
    parts = [str(dataset), str(profile)] + ([str(strategy)] if strategy != defaults.STRATEGY else [])
    parts += [f"{tag}{v}" for tag, v in (("train", train_size), ("e", max_epochs), ("p", patience)) if v]
    if seed:
        parts.append(f"s{seed}")
    if isinstance(repeats, Integral) and not isinstance(repeats, bool) and repeats > 1:
        parts.append(f"x{repeats}")
    tag = options_tag(strategy_options)
    return paths.REPORTS_DIR / "-".join(parts + ([tag] if tag else []))


def options_tag(options, longest: int = 48) -> str:
    """A folder-name tag for strategy options: ``population_size12``, several joined by ``-``
    (sorted), a comparison's per strategy as ``memetic.population_size12``; a tag longer than
    ``longest`` characters is ``o`` and a hash of the options. ``""`` for none."""
    import hashlib
    import re

    def pairs(prefix: str, d) -> list[str]:
        out = []
        for k in sorted(d, key=str):
            v = d[k]
            out += pairs(f"{prefix}{k}.", v) if isinstance(v, dict) else [f"{prefix}{k}{v}"]
        return out

    if not isinstance(options, dict) or not options:
        return ""
    tag = "-".join(re.sub(r"[^A-Za-z0-9_.+]+", "_", p) for p in pairs("", options))
    if len(tag) <= longest:
        return tag
    return "o" + hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:8]


def write_summary(out_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``out_dir/summary.json``. ``studylib run`` reads it for the line under each report in
    ``index.html``: any notebook may write one (keys used: ``best_acc``, ``best_acc_std``,
    ``test_acc``, ``test_acc_std``, ``rows``/``trials``, ``rung_trials``, ``dataset``,
    ``data_hash``, ``profile``, ``strategy``, ``strategy_options``, ``by_strategy``,
    ``best_strategy``, ``seeds``, ``train_time``, ``wall_time``)."""
    path = Path(out_dir) / SUMMARY_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_text(path, json.dumps(summary, indent=2, default=str))


def read_summary(out_dir: str | Path) -> dict | None:
    try:
        return json.loads((Path(out_dir) / SUMMARY_JSON).read_text())
    except (OSError, ValueError):
        return None
