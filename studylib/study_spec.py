"""A study's definition: :class:`StudySpec` (its identity in the ledger) and :func:`prepare`,
which checks every input a user can give and loads the data before anything is written
(:mod:`studylib.study` runs what it returns). No randomness here but the dry run's made-up
scores (:func:`studylib.option_checks.dry_run`, a stream of its own)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import defaults, profiles
from .checks import real_number, whole_number
from .data import Dataset, load_dataset
from .errors import StudyError, first_line
from .fidelity import check_seeds
from .loop import default_in_flight, ignores_results
from .option_checks import check_option_types, dry_run, misspelt_option
from .space import SearchSpace
from .space_file import BUILTIN, load_space, parse_space
from .strategies import MULTI_FIDELITY, Strategy, make_strategy, strategy_class, strategy_kwargs
from .training import Budget


@dataclass
class StudySpec:
    """Everything that defines a study (and its identity in the ledger)."""

    space: SearchSpace
    strategy: str = defaults.STRATEGY
    trials: int = 6
    seed: int = defaults.SEED
    dataset: str = defaults.DATASET
    budget: Budget = field(default_factory=Budget)
    data_options: dict = field(default_factory=dict)
    strategy_options: dict = field(default_factory=dict)
    data_dir: str | None = None      # where the data was loaded from (workers load it the same way)
    in_flight: int | None = None     # proposals ahead of their results (None: the strategy's default)
    budget_epochs: int | None = None  # stop once this many epochs are trained (not part of the identity)
    budget_hours: float | None = None  # ... or this many hours of training spent

    def identity(self, data_hash: str) -> dict:
        ident = {"space": self.space.name, "space_hash": self.space.fingerprint(), "strategy": self.strategy,
                 "strategy_options": self.strategy_options, "seed": self.seed, "dataset": self.dataset,
                 "data_hash": data_hash, "budget": self.budget.to_dict()}
        if self.in_flight is not None:  # only a non-default window changes the proposals
            ident["in_flight"] = self.in_flight
        from .plugins import origin

        if origin(self.strategy):  # a registered strategy: another class of the same name is another study
            ident["strategy_class"] = origin(self.strategy)
        resolved = strategy_class(self.strategy).identity_defaults(self.budget.max_epochs, self.strategy_options)
        if resolved:
            ident["strategy_defaults"] = resolved
        return ident

    def study_id(self, data_hash: str) -> str:
        blob = json.dumps(self.identity(data_hash), sort_keys=True, default=str)
        return f"{self.space.name}-{self.strategy}-s{self.seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


def identity_differences(identity: dict, other: dict) -> list[str]:
    """The fields in which two study identities (:meth:`StudySpec.identity`, or a ledger's recorded
    ``spec``) differ, a nested one by its path (``budget.max_epochs``); compared as the study id
    hashes them (JSON text: ``3`` and ``3.0`` differ)."""
    def text(value) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    differ = []
    for k in sorted(set(identity) | set(other)):
        mine, theirs = identity.get(k), other.get(k)
        if isinstance(mine, dict) and mine and theirs is None or isinstance(theirs, dict) and theirs and mine is None:
            mine, theirs = mine or {}, theirs or {}  # defaults recorded on one side only: name each
        if isinstance(mine, dict) and isinstance(theirs, dict):
            differ += [f"{k}.{j}" for j in sorted(set(mine) | set(theirs)) if text(mine.get(j)) != text(theirs.get(j))]
        elif text(mine) != text(theirs):
            differ.append(k)
    return differ


def study_kind(spec: dict) -> tuple:
    """What makes two studies' accuracies compare: one search space (its name and definition) on
    one dataset (the same data: files, split and sizes)."""
    return spec.get("space"), spec.get("space_hash"), spec.get("dataset"), spec.get("data_hash")


def kinds_named(kinds: dict[tuple, str]) -> str:
    """Each kind (:func:`study_kind`) as one of its study ids and ``(space on dataset)``, with the
    hash that tells it apart where the names do not (``space definition 1a2b3c4d``; ``data
    5e6f7a8b``: other data files, or another split or size)."""
    named = []
    for (space, space_hash, dataset, data_hash), sid in kinds.items():
        apart = []
        if len({k[1] for k in kinds if k[0] == space}) > 1:
            apart.append(f"space definition {str(space_hash)[:8]}" if space_hash else "no space hash recorded")
        if len({k[3] for k in kinds if k[2] == dataset}) > 1:
            apart.append(f"data {str(data_hash)[:8]}" if data_hash else "no data hash recorded")
        named.append(f"{sid} ({space} on {dataset}{''.join(', ' + a for a in apart)})")
    return "; ".join(named)


def prepare(round_or_space: str | SearchSpace, *, strategy: str = defaults.STRATEGY, trials: int | None = None,
            seed: int = defaults.SEED, dataset: str = defaults.DATASET, profile: str = defaults.PROFILE,
            max_epochs: int | None = None,
            patience: int | None = None, train_size: int | None = None, val_size: int | None = None,
            test_size: int | None = None, data_dir: str | None = None,
            strategy_options: dict | None = None, in_flight: int | None = None, budget_epochs: int | None = None,
            budget_hours: float | None = None) -> tuple[StudySpec, Dataset]:
    """Validate every input and load the data; raises :class:`StudyError` before anything is written.

    ``in_flight``: how many proposals a result-driven strategy (GA, memetic, TPE) makes ahead of
    its results, i.e. how many of its trials can run in parallel. Default: the strategy's
    population size, else 1. It fixes the proposals: same value, same configs on any executor."""
    from .plugins import load_entry_points

    load_entry_points()
    if not isinstance(strategy, str):
        raise StudyError(f"strategy must be a name, got {strategy!r} (a class of your own: "
                         "studylib.plugins.register_strategy(name, cls), then its name)")
    if isinstance(dataset, Dataset):
        raise StudyError("dataset must be a name, got a Dataset (data of your own goes to "
                         "studylib.study.run_study(spec, data, out_dir); see docs/extending.md)")
    if not isinstance(dataset, str):
        raise StudyError(f"dataset must be a name, got {first_line(repr(dataset))[:80]}")
    check_folder("data_dir", data_dir)
    if isinstance(strategy_options, Mapping):  # a notebook's numpy numbers are the numbers the CLI reads
        strategy_options = {k: plain_value(v) for k, v in strategy_options.items()}
    elif strategy_options is not None:
        raise StudyError(f"strategy_options must map an option to its value, e.g. {{'population_size': 12}}, "
                         f"got {strategy_options!r}")
    # a notebook's numpy integers are whole numbers too
    trials, seed, max_epochs, patience, train_size, val_size, test_size, in_flight, budget_epochs = (
        _plain(v) for v in (trials, seed, max_epochs, patience, train_size, val_size, test_size, in_flight,
                            budget_epochs))
    space = study_space(round_or_space)
    settings = profiles.resolve(profile, space.name, trials=trials, max_epochs=max_epochs, patience=patience,
                                train_size=train_size, val_size=val_size, test_size=test_size)
    budget_hours = _check_numbers(settings, seed=seed, in_flight=in_flight, budget_epochs=budget_epochs,
                                  budget_hours=budget_hours, train_size=train_size, val_size=val_size,
                                  test_size=test_size)
    if trials is None and (budget_epochs or budget_hours):
        settings["trials"] = space.size  # the budget decides when to stop
    probe, in_flight = _probe_strategy(strategy, space, seed=seed, max_epochs=settings["max_epochs"],
                                       strategy_options=strategy_options, budget_epochs=budget_epochs,
                                       in_flight=in_flight)
    if strategy_options:
        dry_run(probe, strategy, strategy_options)  # the probe's last use
    data_options = {k: settings[k] for k in ("train_size", "val_size", "test_size")}
    data = load_dataset(dataset, data_dir=data_dir, **data_options)
    _note_sizes(dataset, train_size=(train_size, data.y_train, "training"),
                val_size=(val_size, data.y_val, "validation"), test_size=(test_size, data.y_test, "test"))
    spec = StudySpec(space=space, strategy=strategy, trials=settings["trials"], seed=seed, dataset=dataset,
                     budget=Budget(settings["max_epochs"], settings["patience"]), data_options=data_options,
                     strategy_options=dict(strategy_options or {}), data_dir=data_dir, in_flight=in_flight,
                     budget_epochs=budget_epochs, budget_hours=budget_hours)
    return spec, data


_NOTED: set = set()  # the size notes printed in this process (a study of several seeds prepares each)


def _note_sizes(dataset: str, **sizes) -> None:
    """A note on stderr, once per process, for each size given (not a profile's) above what the
    data holds: ``sizes`` maps a parameter to (size given, labels of that split, its name)."""
    for name, (wanted, have, split) in sizes.items():
        if wanted is not None and wanted > len(have) and (dataset, name, wanted) not in _NOTED:
            _NOTED.add((dataset, name, wanted))
            sys.stderr.write(f"studylib: note: {name} {wanted} is more than the {len(have)} {split} images of "
                             f"{dataset}: all {len(have)} are used\n")


def _check_numbers(settings: dict, *, seed, in_flight, budget_epochs, budget_hours, train_size, val_size,
                   test_size) -> int | float | None:
    """:func:`prepare`'s whole-number, seed and budget checks (``settings``: the profile's
    resolved ``trials``, ``max_epochs`` and ``patience``); raises :class:`StudyError`. Returns
    ``budget_hours`` as a plain number (a notebook's numpy number too)."""
    for name in ("trials", "max_epochs", "patience"):
        whole_number(name.replace("_", "-"), settings[name])
    whole_number("seed", seed, minimum=0)
    check_seeds([seed], "seed")
    for name, v in (("in-flight", in_flight), ("budget-epochs", budget_epochs),
                    ("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        if v is not None:
            whole_number(name, v)  # data.load_dataset checks the sizes again, with the same message
    return None if budget_hours is None else real_number("budget-hours", budget_hours)


def _probe_strategy(strategy: str, space: SearchSpace, *, seed: int, max_epochs: int, strategy_options: dict | None,
                    budget_epochs: int | None, in_flight: int | None) -> tuple[Strategy, int | None]:
    """The strategy :func:`prepare` checks its options on (``probe``), and ``in_flight`` as the
    study records it: None where it does not change the proposals. Raises :class:`StudyError`
    for a bad option, a ``min_epochs`` above the top rung or a ``budget_epochs`` below it."""
    options = strategy_options or {}
    if "seed" in options:
        raise StudyError("strategy option seed: a strategy's seed is the study's (--seed N; seed= in Python)")
    if "max_epochs" in options and strategy in MULTI_FIDELITY:
        raise StudyError(f"strategy option max_epochs: {strategy}'s top rung is the study's --max-epochs "
                         "(max_epochs= in Python)")
    check_option_types(strategy, options)
    try:
        probe = make_strategy(strategy, space, seed=seed, **strategy_kwargs(strategy, max_epochs, strategy_options))
    except (TypeError, ValueError) as e:  # an unknown option or a bad value (--strategy-option)
        why = first_line(e)
        # a class of one's own that names its options: Python's words, said as studylib's own are
        unexpected = re.search(r"got an unexpected keyword argument '(.+?)'", why)
        if unexpected and unexpected.group(1) in options:
            why = f"{strategy}: unknown options {[unexpected.group(1)]}"
        hint = misspelt_option(strategy, options) if "unknown option" in why else ""
        raise StudyError(f"strategy options {dict(options)}: {why}{hint}") from None
    top = getattr(probe, "max_epochs", max_epochs) if probe.multi_fidelity else None
    lowest = options.get("min_epochs")
    if top is not None and isinstance(lowest, int) and lowest > top:
        raise StudyError(f"strategy option min_epochs={lowest} is above {strategy}'s top rung ({top} epochs, "
                         f"--max-epochs): give at most {top}")
    if top is not None and budget_epochs is not None and budget_epochs < top:
        raise StudyError(f"budget-epochs {budget_epochs} is below {strategy}'s top rung ({top} epochs): it starts "
                         f"a config only if the budget can carry it there ({top} epochs in all); give at least {top}")
    if in_flight is not None and (ignores_results(probe) or in_flight == default_in_flight(probe)):
        in_flight = None  # no effect on the proposals: keep the study's identity unchanged
    return probe, in_flight


def check_spec(spec: StudySpec, data: Dataset) -> None:
    """A study built by hand (``run_study`` with a :class:`StudySpec` and a :class:`Dataset` of
    one's own), checked as :func:`prepare` checks its inputs: the space (the CNN's hyperparameters),
    the strategy and its options, and the arrays (:func:`check_dataset`); raises :class:`StudyError`."""
    study_space(spec.space)
    _probe_strategy(spec.strategy, spec.space, seed=spec.seed, max_epochs=spec.budget.max_epochs,
                    strategy_options=spec.strategy_options, budget_epochs=spec.budget_epochs, in_flight=spec.in_flight)
    check_dataset(data)
    check_fits(spec.space, data)


def check_fits(space: SearchSpace, data: Dataset) -> None:
    """``border_crop`` values that remove the whole image of ``data``: when they are all the space
    has (every trial would fail), :class:`StudyError` naming them and the most the images allow;
    when some are, a note on stderr (their trials fail, recorded as failed like any config that
    cannot be built)."""
    import numpy as np

    if "border_crop" not in space.names:
        return
    height, width = np.shape(data.x_train)[1:3]
    most = (min(height, width) - 1) // 2
    values = space["border_crop"].values
    too_big = [v for v in values if int(v) > most]
    if not too_big:
        return
    what = (f"border_crop {', '.join(map(str, too_big))} removes the whole {height}x{width} image of dataset "
            f"{getattr(data, 'name', '?')!r}")
    if len(too_big) == len(values):
        raise StudyError(f"{what}: at most {most} there")
    if what not in _NOTED:  # once per process (a study of several seeds checks each)
        _NOTED.add(what)
        sys.stderr.write(f"studylib: note: {what}: its trials will fail (at most {most} there)\n")


def check_dataset(data: Dataset) -> None:
    """Images ``(n, height, width, channels)`` of one shape in every split, one integer label
    ``0..n_classes-1`` per image, no split empty: one line naming what is not."""
    import numpy as np

    name = f"dataset {getattr(data, 'name', '?')!r}"
    if not isinstance(data, Dataset):
        raise StudyError(f"data must be a studylib.data.Dataset, got a {type(data).__name__}")
    n_classes = data.n_classes
    if not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 2:
        raise StudyError(f"{name}: n_classes must be a whole number of at least 2, got {n_classes!r}")
    shape = None
    for split in ("train", "val", "test"):
        x, y = np.asarray(getattr(data, f"x_{split}")), np.asarray(getattr(data, f"y_{split}"))
        if x.ndim != 4 or len(x) == 0:
            raise StudyError(f"{name}: x_{split} must hold images as (n, height, width, channels), n > 0; "
                             f"got shape {x.shape}")
        if shape is not None and x.shape[1:] != shape:
            raise StudyError(f"{name}: x_{split}'s images are {x.shape[1:]}, x_train's {shape}")
        shape = x.shape[1:]
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise StudyError(f"{name}: y_{split} must hold one integer label per image ({len(x)}); "
                             f"got shape {y.shape}, dtype {y.dtype}")
        if y.min() < 0 or y.max() >= n_classes:
            raise StudyError(f"{name}: y_{split}'s labels run {y.min()}..{y.max()}, outside 0..{n_classes - 1} "
                             "(n_classes)")


_NOT_IN_A_FILE_NAME = re.compile(r"[/\x00]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SPACE_NAME = 100  # bytes: a study id (name, strategy, seed, hash) and its lock file stay under 255 bytes


def study_space(round_or_space: str | SearchSpace) -> SearchSpace:
    """The space a study runs. A study's files are named after its space, so a space file without a
    ``name`` given by a path with a folder (``spaces/mine.yaml``) is named after the file
    (``mine``; a bare ``mine.yaml`` keeps that name, as it always did); a name holding ``/`` is
    refused, and so is a file named like a built-in round."""
    if isinstance(round_or_space, SearchSpace):
        space = round_or_space
        parse_space(space.to_dict(), f"space {space.name!r}")  # checked as a space file is: the CNN's names
    else:
        space = load_space(round_or_space)
        if space.name == str(Path(str(round_or_space))) and _NOT_IN_A_FILE_NAME.search(space.name):
            stem = Path(space.name).stem
            if stem in BUILTIN:
                raise StudyError(f"{round_or_space}: a space file without a name is named after the file, and "
                                 f"{stem!r} is a built-in round's name: give the file a `name:` line")
            space = dataclasses.replace(space, name=stem)
    if _NOT_IN_A_FILE_NAME.search(space.name):
        raise StudyError(f"space name {space.name!r}: a study's files are named after it, so it cannot hold / "
                         "(give it a name without one)")
    if not space.name.strip() or _CONTROL.search(space.name) or len(space.name.encode()) > MAX_SPACE_NAME:
        raise StudyError(f"space name {space.name[:MAX_SPACE_NAME + 10]!r}: a study's files are named after it, so it "
                         f"must be 1 to {MAX_SPACE_NAME} bytes (UTF-8), none of them a line break or control character")
    return space


def check_folder(name: str, value) -> None:
    """A folder argument of the Python API (``out_dir``, ``data_dir``): None, a str or a Path."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise StudyError(f"{name} must be a folder (a str or Path), got {value!r}")


def plain_value(value):
    """A value with numpy scalars as Python's (``np.int64(4)`` is ``4``, as ``--strategy-option
    population_size=4`` reads it; the study id hashes a strategy option's value), in lists and
    dicts too: strategy options, and ``studylib best``'s config and numbers."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:  # float32(0.1) is 0.1 as typed, not 0.10000000149
        return float(str(value))
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in (list, tuple):  # (a namedtuple is left as it is)
        return type(value)(plain_value(v) for v in value)
    if isinstance(value, Mapping):
        return {k: plain_value(v) for k, v in value.items()}
    return value


def _plain(value):
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


# -- a recorded study, rebuilt ------------------------------------------------------------------

def recorded_space(study: dict):
    """The search space of ``study`` (an item of ``Ledger.studies()``): a built-in round, or the
    definition the ledger recorded for a user's space file; checked against the study's hash."""
    spec, prov, sid = study["spec"], study.get("provenance") or {}, study["study_id"]
    if spec.get("space") in BUILTIN:
        space = load_space(spec["space"])
    elif prov.get("space_definition"):
        space = parse_space(prov["space_definition"], f"study {sid}")
    else:
        raise StudyError(f"study {sid} uses the search space {spec.get('space')!r}, which is not "
                         "a built-in round: its definition is not recorded in the ledger")
    if spec.get("space_hash") and space.fingerprint() != spec["space_hash"]:
        raise StudyError(f"the search space {space.name} changed since study {sid} ran "
                         f"(hash {space.fingerprint()} != {spec['space_hash']})")
    return space


def rebuilt(study: dict, strategy: str | None = None, seed: int | None = None,
            data_dir: str | None = None) -> tuple[StudySpec, Dataset]:
    """``(spec, data)`` of :func:`prepare` for more trials of ``study`` (an item of
    ``Ledger.studies()``; the explorer's "run more", ``studylib best``): its
    space, dataset (:class:`StudyError` unless it hashes as it did), budget and data sizes;
    ``strategy``/``seed`` (None: the study's); the study's strategy options and ``in_flight``
    only with its own strategy; ``data_dir``: where its data files are (None: the default)."""
    spec, prov, sid = study["spec"], study.get("provenance") or {}, study["study_id"]
    space = recorded_space(study)
    data_opts = prov.get("data") or {}
    if data_opts.get("split_seed", 0) not in (0, None):
        raise StudyError(f"study {sid} used split seed {data_opts['split_seed']}; only 0 is supported")
    budget = spec.get("budget") or {}
    same_strategy = strategy in (None, spec.get("strategy"))
    strategy = strategy or spec.get("strategy", defaults.STRATEGY)
    seed = spec.get("seed", 0) if seed is None else int(seed)
    # "paper" leaves every data size unset; the recorded sizes (None: the whole split) override it
    sizes = {k: data_opts.get(k) for k in ("train_size", "val_size", "test_size")}
    _NOTED.update((spec["dataset"], k, v) for k, v in sizes.items())  # a size above the data's: noted when it ran
    extra = {"in_flight": spec["in_flight"]} if same_strategy and spec.get("in_flight") else {}
    new_spec, data = prepare(space, strategy=strategy, trials=1, seed=seed, dataset=spec["dataset"],
                             profile="paper", max_epochs=budget.get("max_epochs"), patience=budget.get("patience"),
                             strategy_options=spec.get("strategy_options") if same_strategy else None,
                             data_dir=data_dir, **sizes, **extra)
    if spec.get("data_hash") and data.fingerprint != spec["data_hash"]:
        raise StudyError(f"cannot rebuild the data of study {sid}: {spec['dataset']} hashes to "
                         f"{data.fingerprint} here, the study used {spec['data_hash']} (other data files?)")
    return new_spec, data
