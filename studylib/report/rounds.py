"""Run a paper round for a report, and say what produced it.

A round's folder (``out_dir``) holds its ledger (``ledger.sqlite``: trials, studies and their
provenance), ``trials.csv`` (one row per trial, the ledger's column names: one name per
hyperparameter in every round; the paper's spellings appear only in the displayed appendix
tables) and ``summary.json`` (:func:`~.folders.write_summary`; what ``studylib run`` lists in ``index.html``). With
several seeds (``repeats > 1``) each seed's study has its own sub-folder ``seed-<s>/`` and the
round's ``trials.csv`` holds every seed's trials (``seed`` column); a study begun with another
number of seeds continues in the folder that holds it (:func:`seed_folder`).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import pandas as pd

from .. import defaults, numbers, paths
from ..ledger import write_csv_atomic
from ..provenance import now_iso
from ..progress import count
from ..space import SearchSpace
from .folders import default_out_dir, write_summary
from .keep import kept

def dataset_label(data: dict) -> str:
    """``digits (1000 train / 300 val / 300 test, 8x8x1, 10 classes)``: a dataset as a report
    names it, from its ``Dataset.describe()`` (a run's ``data``)."""
    shape = "x".join(str(s) for s in data.get("input_shape", []))
    return (f"{data.get('dataset')} ({data.get('n_train')} train / {data.get('n_val')} val / {data.get('n_test')} "
            f"test, {shape}, {data.get('n_classes')} classes)")


def dataset_name(frame: pd.DataFrame, run=None, default: str | None = None) -> str | None:
    """The name of the dataset a table or figure shows: a run's (``run``: a RoundRun or
    CompareRun, its ``data``), else the ``dataset`` column's first value in ``frame``, else
    ``default``."""
    if run is not None:
        return run.data.get("dataset")
    return str(frame["dataset"].iloc[0]) if "dataset" in frame and len(frame) else default


@dataclass
class RoundRun:
    """One round's finished studies (one per seed) and what produced them."""

    round: str
    space: SearchSpace
    profile: str
    strategy: str
    seeds: list[int]
    settings: dict
    out_dir: Path
    results: list = field(repr=False)          # StudyResult per seed
    data: dict = field(repr=False)             # Dataset.describe()
    provenance: dict = field(repr=False)       # what run_study recorded in the ledger
    wall_time: float = 0.0

    def folder_for_files(self) -> Path:
        """Where its figures and tables go as files (:mod:`.keep`): the round's folder."""
        return self.out_dir

    @property
    def frame(self) -> pd.DataFrame:
        """Every trial of every seed (ledger frame: studylib names, results, ``seed``); of a
        multi-fidelity study one row per config, its highest rung, as in ``trials.csv``
        (:func:`~studylib.fidelity.collapse_rungs`)."""
        from ..fidelity import collapse_rungs

        frames = [collapse_rungs(r.frame) for r in self.results if len(r.frame)]  # each seed's in its order
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def rung_trials(self) -> int | None:
        """Of a multi-fidelity round whose configs trained at more than one rung: the rung trials
        (``rungs.csv``'s rows); else None (a row of :attr:`frame` is a trial)."""
        n = sum(len(r.frame) for r in self.results)
        return n if n != len(self.frame) else None

    @property
    def unit(self) -> str:
        """What a row of :attr:`frame` is: ``trial``, or ``config`` (a multi-fidelity round)."""
        return "trial" if self.rung_trials is None else "config"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / paths.TRIALS_CSV

    @property
    def chance(self) -> float | None:
        n = self.data.get("n_classes")
        return 1.0 / n if n else None

    @property
    def dataset_label(self) -> str:
        return dataset_label(self.data)

    @property
    def context(self) -> str:
        """One line under each figure's title: what these points are."""
        seeds = f"seed {self.seeds[0]}" if len(self.seeds) == 1 else f"{len(self.seeds)} seeds"
        frame = self.frame
        low = int(stopped_early(frame).sum())
        rungs = (f" ({low} stopped by halving before {int(pd.to_numeric(frame['rung']).max())} epochs and scored "
                 "after fewer: ▼ where points are drawn)") if low else ""
        return (f"this run: {self.data.get('dataset')}, {count(len(frame), self.unit)}{rungs}, {self.strategy} "
                f"search, {seeds}, profile {self.profile}")

    def summary(self) -> dict:
        """The run in one JSON-able dict (what ``summary.json`` holds)."""
        frame = self.frame
        best = best_by_seed(frame)
        status = frame["status"].value_counts().to_dict() if "status" in frame else {}
        own = {
            "dataset_label": self.dataset_label,
            **({"rung_trials": self.rung_trials} if self.rung_trials is not None else {}),  # rows are configs
            "failed": int(status.get("failed", 0)),
            "diverged": int(status.get("diverged", 0)),
            **_mean_std(best, "best_acc"),
            **_mean_std(best, "test_acc"),
            "study_ids": [r.study_id for r in self.results],
            "strategy_options": self.settings.get("strategy_options") or {},
        }
        train_time = (float(sum(r.frame["wall_time"].sum() for r in self.results))  # every rung's
                      if "wall_time" in frame else None)
        return summary_of(self, frame, own, round_name=self.round, strategy=self.strategy,
                          trained=int(sum(r.trained for r in self.results)),
                          served=int(sum(r.served for r in self.results)), train_time=train_time)


def summary_of(run, frame: pd.DataFrame, own: dict, *, round_name: str, strategy: str, trained: int, served: int,
               train_time: float | None) -> dict:
    """``summary.json`` of a round or the comparison (``run``: a :class:`RoundRun` or
    ``CompareRun``; ``frame``: its trials): the keys both have -- what ran (space, data, profile,
    ``strategy``, seeds), its budget and rows, the trials ``trained`` and ``served``, times
    (``train_time``: the trials' own training in seconds, None where unknown), git commit,
    interpreter and when it finished -- with the run's ``own`` keys after the trial counts."""
    return {
        "round": round_name,
        "space": run.space.name,
        "dataset": run.data.get("dataset"),
        "data_hash": run.data.get("data_hash"),
        "profile": run.profile,
        "strategy": strategy,
        "seeds": run.seeds,
        "trials": int(run.settings["trials"]),
        "rows": int(len(frame)),
        "max_epochs": int(run.settings["max_epochs"]),
        "patience": int(run.settings["patience"]),
        "trained": trained,
        "served": served,
        **own,
        "wall_time": round(run.wall_time, 2),
        "train_time": None if train_time is None else round(float(train_time), 2),
        "git_commit": run.provenance.get("git_commit"),
        "python": sys.executable,
        "finished_at": now_iso(),
    }


def _mean_std(best: pd.DataFrame, col: str) -> dict:
    """``{col: mean, col_std: sample std}`` for ``summary.json`` (:func:`studylib.numbers.mean_spread`;
    None where undefined: no value, or one seed's spread)."""
    mean, std = numbers.mean_spread(best.get(col, []))
    return {col: numbers.json_number(mean), f"{col}_std": numbers.json_number(std)}


def one_row_per_config(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a multi-fidelity study's rungs collapsed to one row per config, its highest
    (:func:`~studylib.fidelity.collapse_rungs`: what ``trials.csv`` holds) when it has a row per
    rung (``rungs.csv``, ``Ledger.frame()``, ``StudyResult.frame``); any other frame as it is."""
    from ..fidelity import collapse_rungs

    if not _rows_per_config(frame):
        return frame
    named = frame if "study_id" in frame else frame.assign(study_id="")
    out = collapse_rungs(named)
    return out if "study_id" in frame else out.drop(columns="study_id")


def _rows_per_config(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds a multi-fidelity config in more than one row (a row per rung); one
    study's config may be another's too, so configs are told apart by study."""
    from ..fidelity import config_column, has_rungs

    if not has_rungs(frame):
        return False

    configs = config_column(frame).astype(str)
    if "study_id" in frame:
        configs = frame["study_id"].astype(str) + "/" + configs
    return bool(configs.duplicated().any())


def stopped_early(frame: pd.DataFrame) -> pd.Series:
    """Rows of a multi-fidelity round (one per config, its highest ``rung``: ``RoundRun.frame``,
    ``trials.csv``) that stopped below the top rung any config reached: their scores are after
    fewer epochs. All False otherwise; a frame of every rung (``rungs.csv``) is refused."""
    if "rung" not in frame or not frame["rung"].notna().any():
        return pd.Series(False, index=frame.index)
    if _rows_per_config(frame):
        raise ValueError("one row per config is needed (RoundRun.frame, trials.csv), not every rung")
    rung = pd.to_numeric(frame["rung"], errors="coerce")
    return rung.notna() & (rung < rung.max())


def best_by_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Per seed (one study each), its best config by validation accuracy (``best_acc``) among
    trials that did not fail: model selection never looks at ``test_acc``. A replicated config
    counts once, with its means over its runs, ranked by the benchmark's rule
    (:func:`studylib.numbers.best_config`)."""
    empty = pd.DataFrame(columns=["seed", "best_acc", "test_acc"])
    if frame is None or not len(frame) or "best_acc" not in frame:
        return empty
    if "seed" not in frame:
        frame = frame.assign(seed=0)
    rows = [numbers.best_config(f) for _, f in frame.groupby("seed")]
    rows = [r for r in rows if r is not None]
    return pd.DataFrame(rows).reset_index(drop=True) if rows else empty


@kept()
def seed_summary(data, *, styled: bool = False):
    """One row per seed (trials, best validation accuracy, test accuracy of that trial) and, with
    several seeds, a last row ``mean ± std`` (sample standard deviation; its ``trials``: per
    seed, as the rows above: ``6``, or ``5-6`` where seeds ran different numbers). ``styled=True``: a captioned Styler, 4 decimals (the report's)."""
    frame = data.frame if isinstance(data, RoundRun) else one_row_per_config(data)  # configs, as trials.csv
    best = best_by_seed(frame)
    rows = []
    for _, b in best.iterrows():
        n = int((frame["seed"] == b["seed"]).sum()) if "seed" in frame else len(frame)
        rows.append({"seed": str(b["seed"]), "trials": n, "best_acc (val)": b["best_acc"],
                     "test_acc of that trial": b["test_acc"]})
    out = pd.DataFrame(rows, columns=["seed", "trials", "best_acc (val)", "test_acc of that trial"])
    if len(out) > 1:
        a, t = _mean_std(best, "best_acc"), _mean_std(best, "test_acc")
        out = out.astype({"best_acc (val)": object, "test_acc of that trial": object})
        low, high = int(out["trials"].min()), int(out["trials"].max())
        out = out.astype({"trials": object}) if low != high else out  # "5-6" per seed, as Table V writes it
        out.loc[len(out)] = {"seed": "mean ± std", "trials": low if low == high else f"{low}-{high}",
                             "best_acc (val)": numbers.format_mean_spread(a["best_acc"], a["best_acc_std"]),
                             "test_acc of that trial": numbers.format_mean_spread(t["test_acc"], t["test_acc_std"])}
    out = out.set_index("seed")
    out.attrs["caption"] = ("The best trial of each seed: its validation accuracy and the test accuracy of that "
                            "trial" + (" (last row: mean ± sample standard deviation over the seeds)"
                                       if len(out) > 1 else ""))
    return out.style.set_caption(out.attrs["caption"]).format(precision=4) if styled else out


# -- running ----------------------------------------------------------------------------------

def plan_round(round_name: str | SearchSpace, *, dataset: str = defaults.DATASET, profile: str = defaults.PROFILE,
               strategy: str = defaults.STRATEGY, trials: int | None = None, seed: int = defaults.SEED,
               repeats: int = 1, out_dir: str | Path | None = None, max_epochs: int | None = None,
               patience: int | None = None, train_size: int | None = None,
               data_dir: str | None = None, strategy_options: dict | None = None) -> tuple[SearchSpace, Path, list]:
    """Every input of :func:`run_round` checked (for every seed) and the data loaded; raises
    :class:`StudyError` (one line) before anything is written (``studylib run`` calls it first,
    too). Returns the space, the output folder and ``[(seed, (spec, data)), ...]``."""
    from ..cliargs import seeds_at_most
    from ..outdir import check_out_dir
    from ..fidelity import check_seeds
    from ..study_spec import prepare, study_space, whole_number

    repeats = seeds_at_most("repeats", whole_number("repeats", repeats))
    space = study_space(round_name)
    out = Path(out_dir) if out_dir else default_out_dir(
        dataset, profile, strategy=strategy, train_size=train_size, max_epochs=max_epochs, patience=patience,
        seed=seed, repeats=repeats, strategy_options=strategy_options) / space.name
    whole = isinstance(seed, Integral) and not isinstance(seed, bool)  # a notebook's numpy seed too
    seeds = [int(seed) + i for i in range(repeats)] if whole and seed >= 0 else [seed]
    if whole and seed >= 0:
        check_seeds(seeds, "seed")  # every seed before any data is loaded
    options = dict(strategy=strategy, trials=trials, dataset=dataset, profile=profile, max_epochs=max_epochs,
                   patience=patience, train_size=train_size, data_dir=data_dir, strategy_options=strategy_options)
    check_out_dir(out, study=True)  # before the data is loaded
    return space, out, [(s, prepare(space, seed=s, **options)) for s in seeds]


def run_round(round_name: str | SearchSpace, *, progress: bool = False, executor=None, **inputs) -> RoundRun:
    """Run (or continue) the round's study for seeds ``seed .. seed + repeats - 1`` into
    ``out_dir`` (default: :func:`default_out_dir`'s folder ``/<round>``) and write ``summary.json``.

    ``inputs``: the keywords of :func:`plan_round` (``dataset``, ``profile``, ``strategy``,
    ``trials``, ``seed``, ``repeats``, ``out_dir``, ``max_epochs``, ``patience``, ``train_size``,
    ``data_dir``, ``strategy_options``: the strategy's options, as ``studylib search
    --strategy-option`` gives them, e.g. ``{"population_size": 12}``), with its defaults; any other keyword is a TypeError. Every input is validated
    (for every seed) before anything is written or trained (:func:`plan_round`).
    """
    from ..study import run_study

    start = time.perf_counter()
    space, out, planned = plan_round(round_name, **inputs)
    seeds = [s for s, _ in planned]
    _, (first, first_data) = planned[0]  # the first seed's study describes the round
    settings = {**spec_settings(first), "strategy_options": dict(first.strategy_options)}
    profile = inputs.get("profile", plan_round.__kwdefaults__["profile"])  # as plan_round read it
    results = [run_study(spec, data, seed_folder(out, spec, data, several=len(seeds) > 1), progress=progress,
                         executor=executor) for _, (spec, data) in planned]
    prov = study_provenance(results[0])
    run = RoundRun(round=space.name, space=space, profile=profile, strategy=first.strategy, seeds=seeds,
                   settings=settings, out_dir=out, results=results, data=first_data.describe(), provenance=prov)
    if len(seeds) > 1 or Path(results[0].out_dir) != out:  # the round's own, beside no ledger of its seeds
        write_csv_atomic(pd.concat([whole_study(r) for r in results], ignore_index=True),
                         out / paths.TRIALS_CSV)  # the ledger's names, like every trials.csv
    run.wall_time = time.perf_counter() - start
    write_summary(out, run.summary())
    return run


def whole_study(result) -> pd.DataFrame:
    """Every trial of a seed's study as its ledger holds it, one row per config: those of a larger
    earlier run too (``result.frame`` has the trials this run reached), so that a round's
    ``trials.csv`` never holds fewer than the ledger's own did."""
    from ..fidelity import collapse_rungs
    from ..ledger import Ledger

    path = Path(result.out_dir) / paths.LEDGER_NAME
    frame = result.frame
    if path.is_file():
        with Ledger(path, read_only=True) as ledger:
            frame = ledger.frame(result.study_id)
    return collapse_rungs(frame if len(frame) >= len(result.frame) else result.frame)


def seed_folder(out: Path, spec, data, *, several: bool) -> Path:
    """Where a seed's study of the round runs: ``out`` when the round has one seed, ``out/seed-<s>``
    when it has several; but a study that the other layout's folder already holds (a run with
    another ``--seeds``) and this one does not continues there, instead of training anew."""
    from ..outdir import study_record_path

    study_id = spec.study_id(data.fingerprint)
    mine, other = (out / f"seed-{spec.seed}", out) if several else (out, out / f"seed-{spec.seed}")
    if study_record_path(other, study_id).is_file() and not study_record_path(mine, study_id).is_file():
        return other
    return mine


def spec_settings(spec) -> dict:
    """A prepared study's settings (``spec``: a :class:`~studylib.study_spec.StudySpec`), as
    :func:`studylib.profiles.resolve` gave them to it: ``max_epochs``, ``patience``, ``trials`` and
    the data sizes (``train_size``, ``val_size``, ``test_size``)."""
    return {"max_epochs": spec.budget.max_epochs, "patience": spec.budget.patience, "trials": spec.trials,
            **spec.data_options}


def study_provenance(result) -> dict:
    """What the ledger recorded about the study of ``result`` (a ``StudyResult``): library
    versions, git commit, machine, data... (``{}`` when the ledger has no such study)."""
    from ..ledger import Ledger

    path = Path(result.out_dir) / paths.LEDGER_NAME
    if not path.exists():
        return {}
    with Ledger(path, read_only=True) as led:  # a report reads; it writes no ledger
        return next((s["provenance"] for s in led.studies() if s["study_id"] == result.study_id), {})


def dataset_caveat(dataset: str | None, profile: str | None = None) -> str | None:
    """What every report on another dataset than the paper's, or of a smoke run, says (None for
    CIFAR-10 under another profile)."""
    if profile == "smoke":  # a few trials of 2 epochs on a subset: neither accuracy nor trend compares
        on = f" on {dataset}" + ("" if dataset == "cifar10" else ", not CIFAR-10") if dataset else ""
        return (f"A smoke run{on} (the smoke profile: few trials, few epochs, a subset of the data) checks that the "
                "study runs end to end: neither its accuracy nor its trends (which settings fail, which help) "
                "compare with the paper's.")
    if not dataset or dataset == "cifar10":
        return None
    return (f"These numbers are on {dataset}, not CIFAR-10: compare trends (which settings fail, which help), "
            "not the accuracy itself, with the paper.")
