"""``studylib best FOLDER``: a study's best config trained again from its trial's seed, its numbers
checked against the ledger's, and saved as a Keras model with a record of what produced it.

The best config is chosen as the study's ``best:`` line chooses (:func:`studylib.numbers.best_config`)
over every trial its ledger holds (the rows of its ``trials.csv``: a multi-fidelity study's configs
at their highest rung; a replicated config by its mean less one standard error, trained again as
its first run). It is trained as the trial that names it was, on the study's Keras backend: the same data (checked by its hash), epochs (a rung's, without early stopping; a trial a
budget cut short, to its cap), early-stopping patience and seed, so with the same libraries on
the same kind of machine its validation and test accuracy are the ledger's to the last digit, and
the record says whether they are. The saved model holds the best epoch's weights, those its test
accuracy was scored with. Written (each whole): ``FOLDER/best-<study_id>.keras`` (or ``--save``)
and, beside it, ``<that name>.json``: study, trial, config, seed, epochs, data, the ledger's and
this training's numbers, what changed since the study, and the provenance.

A folder without a ledger whose study folders hold them (a ``--seeds N`` round, a comparison)
gives the best of all their studies (:func:`best_below`), saved in that folder.

``--refit`` (:func:`train_refit`) trains the config instead on the training and validation sets
together, for the epochs its trial took to its best validation accuracy, and scores the test set
once: a study's final model, to ``FOLDER/best-<study_id>-refit.keras``, with nothing to check
against the ledger.

Randomness: none of its own: the trial's training seed (:func:`studylib.fidelity.training_seed`).
Bad input (no ledger, several studies and no ``--study``, an unknown study, no successful trial,
another Keras backend than the study's, data that no longer hashes as the study's, a ``--save``
or its record that cannot be written): one line, exit 2, nothing written.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .best_select import (best_below, best_trial, check_backend, choose_study, damaged, missing_value,
                          recorded_best_epoch, refit_epochs, training_of)
from .errors import StudyError

#: what the check compares, and how close counts as the same (float32 logs printed as float64)
CHECKED = ("best_acc", "test_acc")
SAME = 1e-6
#: the libraries whose versions change what a training computes
TRAINING_LIBRARIES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy")


@dataclass
class BestModel:
    """A study's best config trained again: its trial, what the ledger recorded and what this
    training gave (``result``: a :class:`~studylib.training.TrialResult`), the model and its file."""

    study_id: str
    trial: int
    config: dict
    seed: int
    epochs: int
    patience: int | None
    recorded: dict
    result: object = field(repr=False)
    model: object = field(repr=False)
    path: Path | None = None
    trained_with: dict = field(default_factory=dict, repr=False)  # the study's provenance
    trainer: str = ""  # the study's trainer fingerprint (objective.trainer_fingerprint)
    runs: int = 1  # a replicated config's runs (the first is trained again)
    mean: dict = field(default_factory=dict)  # and the study's mean over them
    data: dict = field(default_factory=dict, repr=False)  # Dataset.describe() of the data it trained on
    refit: bool = False  # trained on training + validation (train_refit), not as its trial was
    among: int = 1  # the studies it was the best of (several: those below the folder given)
    folder: Path | None = None  # its study's folder
    refit_to: str = ""  # how a refit's epochs were chosen

    def differences(self) -> list[str]:
        """What differs between the study's training and this one's: the Keras backend and the
        versions of the libraries that compute a training (``keras 3.3 -> 3.4``)."""
        from .objective import trainer_fingerprint
        from .provenance import collect

        now, then = collect(), self.trained_with or {}
        out = []
        if then.get("keras_backend") and then["keras_backend"] != now.get("keras_backend"):
            out.append(f"Keras backend {then['keras_backend']} -> {now.get('keras_backend')}")
        old, new = then.get("libraries") or {}, now.get("libraries") or {}
        out += [f"{lib} {old[lib]} -> {new.get(lib, 'none')}" for lib in TRAINING_LIBRARIES
                if old.get(lib) and old.get(lib) != new.get(lib)]
        if then.get("platform") and then["platform"] != now.get("platform"):
            out.append("another platform")
        if self.trainer and self.trainer != trainer_fingerprint():
            out.append(f"the training code ({self.trainer} -> {trainer_fingerprint()})")
        return out

    @property
    def images(self) -> int:
        """The images it trained on: a refit's training and validation sets, else the training set."""
        return self.data.get("n_train", 0) + (self.data.get("n_val", 0) if self.refit else 0)

    @property
    def reproduced(self) -> bool | None:
        """The ledger's validation and test accuracy, again (within :data:`SAME`); None for a
        refit, which trains on other data than its trial did."""
        if self.refit:
            return None
        got = {"best_acc": self.result.best_acc, "test_acc": self.result.test_acc}
        return all(_close(self.recorded.get(k), got[k]) for k in CHECKED)

    def record(self) -> dict:
        """The JSON record beside the model (strict JSON: a NaN is null)."""
        from .numbers import json_number
        from .provenance import collect

        import os

        return {"study_id": self.study_id, "study_folder": str(self.folder) if self.folder else None,
                "best_of_studies": self.among, "trial": self.trial, "config": self.config, "seed": self.seed,
                "epochs": self.epochs, "patience": self.patience, "data": self.data,
                "runs": self.runs, **({"mean_over_runs": self.mean} if self.runs > 1 else {}),
                "recorded": self.recorded,
                "retrained": {"best_acc": json_number(self.result.best_acc, None),
                              "test_acc": json_number(self.result.test_acc, None),
                              "best_epoch": self.result.best_epoch, "epochs": self.result.epochs},
                **({"refit": {"on": "training + validation", "images": self.images, "status": self.result.status}}
                   if self.refit else {}),
                "reproduced": self.reproduced, "changed_since_the_study": self.differences(),
                "model": self.path.name if self.path else None,
                "provenance": {**collect(), "cpus": os.cpu_count()}}


def _close(a, b) -> bool:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= SAME


def record_path(model_path: Path) -> Path:
    """Where the record of a saved model goes: ``<file>.keras.json``."""
    return Path(model_path).with_name(Path(model_path).name + ".json")


def best_model(folder, study: str | None = None, save: str | Path | None = None, *,
               data_dir: str | None = None, progress: bool = False, refit: bool = False) -> BestModel:
    """Train ``folder``'s study's best config again and save it (module docstring): ``study``
    names one of several; ``save`` the ``.keras`` file (default ``FOLDER/best-<study_id>.keras``,
    ``…-refit.keras`` with ``refit``); ``data_dir`` where the data files are; ``progress`` an
    epoch bar at a terminal; ``refit`` trains on the training and validation sets together
    (:func:`train_refit`). Every input is checked before training."""
    from .ledger import Ledger
    from . import paths
    from .outdir import check_out_file, study_folder, study_folders_below, study_ledger
    from .progress import EpochBar
    from .study_spec import plain_value, rebuilt

    flag = "--save" if save is not None else "the model file"
    if save is not None:
        check_out_file(Path(save), ".keras", flag=flag)  # before reading the ledger
    given = study_folder(folder)
    among, joint = 1, None
    if given.is_dir() and not (given / paths.LEDGER_NAME).exists() and study_folders_below(given):
        folder, study, joint, among = best_below(given, study)  # a round's seeds, a comparison
        if save is None:
            save = given / f"best-{study}{'-refit' if refit else ''}.keras"
    path = study_ledger(folder)
    folder = path.parent
    with Ledger(path, read_only=True) as ledger, damaged(path):
        chosen = choose_study(ledger, study, folder)
        row, raw = best_trial(ledger, chosen["study_id"], folder, best=joint)
    study_id = chosen["study_id"]
    check_backend(chosen, folder)
    target = Path(save) if save else folder / f"best-{study_id}{'-refit' if refit else ''}.keras"
    check_out_file(target, ".keras", flag=flag)
    check_out_file(record_path(target), flag=f"{flag}'s record")
    spec, data = rebuilt(chosen, data_dir=data_dir)
    config = {d.name: plain_value(raw[d.name]) for d in spec.space.dimensions if d.name in raw}
    epochs, patience, seed = training_of(raw, chosen["spec"].get("budget") or {})
    runs = int(row.get("runs", 1) or 1) if not missing_value(row.get("runs", 1)) else 1
    if refit:
        epochs, patience = refit_epochs(raw, epochs), None
        refit_to = "the trial's best epoch" if epochs == recorded_best_epoch(raw) else \
            "the trial's epochs: it recorded no best epoch"
    bar = EpochBar(progress, epochs, metric="accuracy" if refit else "val_accuracy")
    try:
        model, result = (train_refit(config, data, epochs, seed, bar) if refit
                         else train(config, data, epochs, patience, seed, bar))
    finally:
        bar.close()
    if refit and result.status == "diverged":
        raise StudyError(f"the refit's loss turned NaN at epoch {result.epochs}: no model written (studylib best "
                         "without --refit trains it as its trial was)")
    best = BestModel(study_id=study_id, trial=int(row["trial"]), config=config, seed=seed, epochs=epochs,
                     patience=patience, refit=refit, among=among, folder=folder,
                     refit_to=refit_to if refit else "",
                     recorded={k: plain_value(raw.get(k)) for k in CHECKED},
                     result=result, model=model, path=target, trained_with=chosen.get("provenance") or {},
                     trainer=chosen.get("fingerprint") or "", runs=runs, data=data.describe(),
                     mean={k: plain_value(row.get(k)) for k in CHECKED} if runs > 1 else {})
    _save(best, target)
    return best


def train(config: dict, data, epochs: int, patience: int | None, seed: int, on_epoch=None):
    """``(model, result)``: ``config`` trained as :func:`studylib.training.evaluate` trains a trial
    (``patience`` None: as :func:`studylib.resumable.train_rung` trains a rung), the model kept with
    the best epoch's weights (:func:`~studylib.training.score` restores them). Written here, not
    as a change to the trainer, whose source is part of every trial's key (a change would stop
    every earlier study from continuing); ``tests/test_best_model.py`` checks the numbers agree."""
    from .training import Run, score, train_epochs

    start = time.perf_counter()
    model = _new_model(config, data, seed)
    run = train_epochs(model, config, data, seed, Run({}), int(epochs), patience, on_epoch)
    return model, score(model, config, data, run, start)


def _new_model(config: dict, data, seed: int):
    """``config``'s network, built as :func:`studylib.training.evaluate` builds a trial's: a fresh
    Keras session, every generator seeded with ``seed``."""
    import keras

    from .model import build_model

    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(int(seed))
    return build_model(config, data.input_shape, data.n_classes)


def train_refit(config: dict, data, epochs: int, seed: int, on_epoch=None):
    """``(model, result)``: ``config`` trained from ``seed`` on ``data``'s training and validation
    sets together for exactly ``epochs`` epochs (no early stopping: nothing is held out to stop
    on), then the test set scored once with the last epoch's weights. ``result.best_acc`` is NaN:
    there is no validation accuracy. The epochs are seeded as a trial's
    (:func:`studylib.training.train_epochs`); the shuffle covers the larger set, so the network
    differs from the trial's from the first step."""
    import dataclasses

    import numpy as np

    from .training import Run, TrialResult, train_epochs

    start = time.perf_counter()
    whole = dataclasses.replace(data, x_train=np.concatenate([data.x_train, data.x_val]),
                                y_train=np.concatenate([data.y_train, data.y_val]))
    model = _new_model(config, data, seed)
    # Keras needs validation data to log val_*; the validation set is now training data, so those
    # logs mean nothing and nothing reads them
    run = train_epochs(model, config, whole, seed, Run({}), int(epochs), None, on_epoch)
    test_loss, test_acc = (float(v) for v in model.evaluate(data.x_test, data.y_test,
                                                            batch_size=int(config["batch_size"]), verbose=0))
    last = {k: float(v[-1]) for k, v in run.history.items() if v}
    nan = float("nan")
    return model, TrialResult(best_acc=nan, best_loss=nan, best_train_acc=last.get("accuracy", nan),
                              best_train_loss=last.get("loss", nan), epochs=run.epochs, best_epoch=run.epochs,
                              test_acc=test_acc, test_loss=test_loss, params=int(model.count_params()),
                              wall_time=time.perf_counter() - start, status="diverged" if run.diverged else "ok",
                              history=run.history)


def _save(best: BestModel, target: Path) -> None:
    """The model and its record, each written whole (a temporary file renamed into place); the
    earlier record goes first, so an interruption never leaves a model beside another's record."""
    import os

    record = record_path(target)
    tmp_model = target.with_name(f".{target.stem}.{os.getpid()}.tmp.keras")  # Keras saves only to a .keras name
    tmp_record = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    try:
        best.model.save(tmp_model)
        tmp_record.write_text(json.dumps(best.record(), indent=2, default=str), encoding="utf-8")
        record.unlink(missing_ok=True)
        os.replace(tmp_model, target)
        os.replace(tmp_record, record)
    finally:
        tmp_model.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)


# -- command -----------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    from .cliargs import path

    parser.add_argument("folder", metavar="FOLDER",
                        help="a study folder: the --out of studylib search, or a round's folder (it holds "
                             "ledger.sqlite); or a folder of study folders (a --seeds round's, a comparison's): "
                             "the best of all their studies")
    parser.add_argument("--study", metavar="ID", help="the study (a study_id of FOLDER/trials.csv); needed "
                                                      "when FOLDER holds several")
    parser.add_argument("--save", metavar="FILE.keras", type=path,
                        help="where to write the model (default: FOLDER/best-<study_id>.keras); its record "
                             "goes beside it, FILE.keras.json")
    parser.add_argument("--data-dir", type=path, help="folder holding the study's data files (default: as "
                                                      "studylib search's)")
    parser.add_argument("--refit", action="store_true",
                        help="train on the training and validation sets together, for the epochs its trial took "
                             "to its best validation accuracy, and score the test set (the final model of a "
                             "study; default file FOLDER/best-<study_id>-refit.keras)")
    parser.add_argument("--no-progress", action="store_true", help="no epoch bar")


def main(args) -> int:
    from .progress import count

    start = time.perf_counter()
    best = best_model(args.folder, args.study, args.save, data_dir=args.data_dir, progress=not args.no_progress,
                      refit=args.refit)
    rec, r = best.recorded, best.result
    if best.among > 1:
        print(f"the best of {best.among} studies: {best.study_id} in {best.folder}")
    print(f"best: trial {best.trial}  " + "  ".join(f"{k}={v}" for k, v in best.config.items()))
    if best.runs > 1:
        again = "its first run is refit (its seed, its best epoch)" if best.refit else "its first run is trained again"
        print(f"a config of {best.runs} runs (the study's mean: validation {_fmt(best.mean.get('best_acc'))}, test "
              f"{_fmt(best.mean.get('test_acc'))}): {again}")
    took = f"({time.perf_counter() - start:.0f} s)"
    if best.refit:
        print(f"refit on training + validation ({count(best.images, 'image')}): {count(r.epochs, 'epoch')} "
              f"({best.refit_to}), seed {best.seed}: test accuracy {r.test_acc:.4f} (the trial's, trained on "
              f"training alone: {_fmt(rec.get('test_acc'))}) {took}")
    else:
        print(f"trained again: {count(r.epochs, 'epoch')} (best epoch {r.best_epoch}), seed {best.seed}: validation "
              f"accuracy {r.best_acc:.4f}, test {r.test_acc:.4f} {took}")
    if best.reproduced:
        print("the same as the ledger's")
    elif not best.refit:
        changed = best.differences()
        why = (f"since the study: {', '.join(changed)}" if changed else
               "the same libraries: other hardware, or a nondeterministic kernel?")
        print(f"studylib: note: the ledger has validation {_fmt(rec.get('best_acc'))}, test "
              f"{_fmt(rec.get('test_acc'))}: not reproduced here ({why})", file=sys.stderr)
    print(f"wrote {best.path} and {record_path(best.path).name}")
    return 0


def _fmt(v) -> str:
    try:
        return f"{float(v):.4f}"
    except (TypeError, ValueError):
        return "-"
