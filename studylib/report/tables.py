"""The paper's tables rebuilt for a report: Tables I-III (the space searched beside the paper's),
Appendix 1-3 and Table IV (from a ledger DataFrame)."""
from __future__ import annotations

import html
import math

import pandas as pd

from .. import numbers
from ..ledger import paper_csv_frame
from ..space import SearchSpace
from ..space_file import BUILTIN, KNOWN, load_space
from .labels import value_label
from .keep import kept

#: Columns of ours (not in the paper's logs) shown after the paper's in an appendix table.
OURS = ("test_acc",)

#: Paper columns each appendix does not show although our trials.csv has them: round 1's table
#: (Appendix 1) has no activation/optimizer/stride (fixed to relu/adam/2 in that round) nor the
#: training accuracy/loss; stride (rounds 1-2), and border crop and dropout (round 3) are
#: constants of their round the paper states in the text, not in its tables.
APPENDIX_HIDDEN = {
    "round1": ("activation", "optimizer", "stride", "best_train_acc", "best_train_loss"),
    "round2": ("stride",),
    "round3": ("stride", "border_crop", "dropout"),
}
#: Hyperparameters a round searches that its appendix does not show (the paper's log names no
#: border crop): listed with our columns, after the paper's, so the paper's columns keep their order.
APPENDIX_OURS = {"round2": ("border_crop",)}
APPENDIX_NUMBER = {"round1": 1, "round2": 2, "round3": 3}
#: The last column of each appendix as the paper prints it (its tables end at the page's edge):
#: the columns after it, in the paper's naming, are not in the printed table.
APPENDIX_PRINTED_LAST = {"round1": "no_epochs", "round2": "learning_rate", "round3": "learning_rate"}

#: Table IV: accuracy on CIFAR-10 without data augmentation, as printed in the paper.
PAPER_TABLE_IV = [
    ("ALL-CNN [37]", 92.00),
    ("Deeply-supervised [38]", 90.22),
    ("Network in Network [39]", 89.60),
    ("Maxout [40]", 88.32),
    ("3Conv + 2FC + Dropout + stride 1 on all layers (the paper, round 3)", 80.62),
]


#: Tables I-III as the paper prints them: (hyperparameter, abbreviation, range as printed, its
#: values, the studylib name).
PAPER_TABLES = {
    "I": [("Number of Filters", "Filters_1", "[16, 32, 64, 96]", (16, 32, 64, 96), "filters1"),
          ("Kernel Size", "Ksize_1", "[3, 4, 5]", (3, 4, 5), "ksize1"),
          ("Number of Filters", "Filters_2", "[48, 64, 96, 128]", (48, 64, 96, 128), "filters2"),
          ("Kernel Size", "Ksize_2", "[3, 4, 5]", (3, 4, 5), "ksize2"),
          ("Number of Filters", "Filter_3", "[64, 96, 128]", (64, 96, 128), "filters3"),
          ("Kernel Size", "Ksize_3", "[3, 4, 5]", (3, 4, 5), "ksize3"),
          ("Hidden Layer", "full_hidden1", "[60, 100, 125]", (60, 100, 125), "hidden1"),
          ("Hidden Layer", "full_hidden2", "[60, 100, 125]", (60, 100, 125), "hidden2"),
          ("Activation", "activation", "['relu', 'lrelu', 'elu']", ("relu", "lrelu", "elu"), "activation")],
    "II": [("Learning rate", "learning_rates", "[0.001, 0.003, 0.01,0.03]", (0.001, 0.003, 0.01, 0.03),
            "learning_rate"),
           ("Batch Size", "batch_sizes", "[32, 64, 128, 256]", (32, 64, 128, 256), "batch_size"),
           ("Momentum", "momentum", "[0.9, 0.95, 0.99]", (0.9, 0.95, 0.99), "momentum"),
           ("Optimizer", "optimizer", "['Adam, 'rmsprop', 'Nesterov']", ("adam", "rmsprop", "nesterov"),
            "optimizer")],
    "III": [("Learning rate", "learning_rate", "[0.001, 0.003, 0.002,0.0015]", (0.001, 0.003, 0.002, 0.0015),
             "learning_rate"),
            ("Batch Size", "batch_size", "[64]", (64,), "batch_size"),
            ("Momentum", "momentum", "[0.9, 0.95, 0.99]", (0.9, 0.95, 0.99), "momentum"),
            ("Optimizer", "optimizer", "['adam']", ("adam",), "optimizer"),
            ("Number of Filters", "filters1", "[64, 96]", (64, 96), "filters1"),
            ("Kernal Size", "ksize1", "[4, 5]", (4, 5), "ksize1"),
            ("Number of Filters", "filters2", "[96, 128]", (96, 128), "filters2"),
            ("Kernal Size", "ksize2", "[4, 5]", (4, 5), "ksize2"),
            ("Number of Filters", "filter3", "[96, 128]", (96, 128), "filters3"),
            ("Kernal Size", "ksize3", "[4, 5]", (4, 5), "ksize3"),
            ("Hidden Layer", "full_hidd1", "[100, 125]", (100, 125), "hidden1"),
            ("Hidden Layer", "full_hidd2", "[100, 125]", (100, 125), "hidden2"),
            ("Activation", "activation", "['lrelu']", ("lrelu",), "activation")],
}
#: The tables each round's space comes from (Section V: rounds 1-2 "based Table I and Table II",
#: round 3 "sampled accordingly as in Table III").
ROUND_TABLES = {"round1": ("I", "II"), "round2": ("I", "II"), "round3": ("III",)}
#: Why a round searches other values than its tables print, or a constant the tables do not
#: list (the round notebooks and studylib/spaces/*.yaml say more).
SPACE_NOTES = {
    ("round1", "filters1"): "Appendix 1's trials use 8, 16, 32 and 64 (8 is outside Table I: not searched)",
    ("round1", "filters2"): "Appendix 1's trials use 32, 48, 64 and 96 (32 is outside Table I: not searched)",
    ("round1", "hidden2"): "Appendix 1's trials use 80, 100 and 125 (80 is outside Table I: not searched; "
                           "none uses 60)",
    ("round1", "filters3"): "round 1 has two conv layers (Section V.A)",
    ("round1", "ksize3"): "round 1 has two conv layers (Section V.A)",
    ("round1", "activation"): "fixed: Appendix 1 has no activation column (its trials name none)",
    ("round1", "momentum"): "not searched in round 1 (Section V.A): Adam's default beta_1, 0.9",
    ("round1", "optimizer"): "not searched in round 1 (Section V.A); Appendix 1 has no optimizer column",
    ("round1", "stride"): "the text: the first conv layer's stride, 2 until round 3 (Section V.C)",
    ("round2", "learning_rate"): "Appendix 2's four: the paper drops 0.01 and 0.03 after round 1 (Section V.A)",
    ("round2", "hidden2"): "Appendix 2's trials use 80, 100 and 125 (80 is outside Table I: not searched; "
                           "none uses 60)",
    ("round2", "momentum"): "the optimizer's momentum (Adam's beta_1...); the paper's \"momentum for batch "
                            "normalization\" is the space-file option momentum_use: batchnorm",
    ("round3", "momentum"): "the optimizer's momentum, as in round 2",
    ("round2", "border_crop"): "the text: \"The border pixels [0, 1, 2] were removed\" (Section V.B)",
    ("round2", "stride"): "the text: the first conv layer's stride, 2 until round 3 (Section V.C)",
    ("round3", "learning_rate"): "the same four values, in ascending order",
    ("round3", "stride"): "the text: \"stride 1 on all layers\" (Section V.C, Table IV)",
    ("round3", "border_crop"): "the text: \"patch reduction to 0\" (Section V.C)",
    ("round3", "dropout"): "the text: \"regularization is applied which is the dropout layers\" (Section V.C); "
                           "the rate is not given",
}


def _same_values(a, b) -> bool:
    """The same values, in any order (floats compared as close)."""
    def within(xs, ys):
        return all(any(x == y or (isinstance(x, float) and isinstance(y, (int, float)) and math.isclose(x, y))
                       for y in ys) for x in xs)

    return len(a) == len(b) and within(a, b) and within(b, a)


def _searched(values) -> str:
    values = list(values)
    return f"fixed: {values[0]}" if len(values) == 1 else "[" + ", ".join(map(str, values)) + "]"


@kept()
def space_table(data, *, styled: bool = False):
    """The space a round searched beside the paper's Tables I-III: for each row of the tables the
    round comes from, the range the paper prints and the values searched here (``fixed: v`` for a
    constant, ``not in this round``), then the constants the tables do not list; a note says why
    where they differ. ``data``: a :class:`RoundRun`, a :class:`SearchSpace` or a round's name."""
    from .rounds import RoundRun

    space = data.space if isinstance(data, RoundRun) else load_space(data) if isinstance(data, str) else data
    ours = {d.name: d for d in space.dimensions}
    tables = ROUND_TABLES.get(space.name, ())
    rows, listed = [], set()
    for number in tables:
        for what, abbreviation, printed, values, name in PAPER_TABLES[number]:
            dim = ours.get(name)
            here = _searched(dim.values) if dim else "not in this round"
            same = dim is not None and _same_values(dim.values, values)
            rows.append({"Table": number, "Hyperparameter": what, "Abbreviation": abbreviation,
                         "The paper's range": printed, "Searched here": here, "Same": "yes" if same else "no",
                         "Note": SPACE_NOTES.get((space.name, name), "")})
            listed.add(name)
    for d in space.dimensions:
        if d.name not in listed:
            rows.append({"Table": "-", "Hyperparameter": d.name, "Abbreviation": d.paper or d.name,
                         "The paper's range": "-", "Searched here": _searched(d.values),
                         "Same": "-" if tables else "", "Note": SPACE_NOTES.get((space.name, d.name), "")})
    table = pd.DataFrame(rows, columns=["Table", "Hyperparameter", "Abbreviation", "The paper's range",
                                        "Searched here", "Same", "Note"])
    if not tables:
        table = table.drop(columns=["Table", "The paper's range", "Same"])
    if not styled:
        return table
    names = f"Tables {' and '.join(tables)}" if len(tables) > 1 else f"Table {''.join(tables)}"
    caption = (f"{names}: the ranges the paper prints, and the space this round searched "
               f"({space.size:,} combinations)" if tables else
               f"The space this study searched ({space.size:,} combinations): not one of the paper's rounds")
    return (table.style.set_caption(caption).hide(axis="index").set_properties(**{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))

def _unpack(data):
    from .rounds import RoundRun, one_row_per_config

    if isinstance(data, RoundRun):
        return data.frame, data.space
    return one_row_per_config(data), None


def _space(space: SearchSpace | str | None, frame: pd.DataFrame) -> SearchSpace | None:
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str):
        return load_space(space)
    if "study_id" in frame and frame["study_id"].notna().any():
        name = str(frame["study_id"].dropna().iloc[0]).split("-")[0]
        if name in BUILTIN:
            return load_space(name)
    return None


@kept()
def appendix_table(data, space: SearchSpace | str | None = None, *, extra: tuple[str, ...] = OURS,
                   styled: bool = False):
    """The round's trial table as the paper's appendix prints it: the paper's column names
    (``paper_csv_frame``), sorted by ``best_acc`` (best first; failed trials last), indexed by
    trial number. Columns after the paper's are ours (``test_acc``, and ``seed`` when the frame
    holds several seeds, where the index is (seed, trial)). ``styled=True`` returns a pandas Styler
    with a caption (notebooks)."""
    frame, run_space = _unpack(data)
    sp = _space(space or run_space, frame)
    # without a space, every column that is a known hyperparameter keeps its studylib name
    paper_names = sp.paper_names() if sp else {c: c for c in frame.columns if c in KNOWN}
    out = paper_csv_frame(frame, paper_names)
    result_cols = ["best_acc", "best_loss", "best_train_acc", "best_train_loss", "no_epochs"]
    paper_cols = sorted(c for c in set(paper_names.values()) | set(result_cols) if c in out.columns)
    hidden = set(APPENDIX_HIDDEN.get(sp.name, ())) if sp else set()
    hidden = {paper_names.get(h, h) for h in hidden}
    moved = [paper_names.get(m, m) for m in APPENDIX_OURS.get(sp.name, ())] if sp else []
    cols = [c for c in paper_cols if c not in hidden and c not in moved]
    ours = [c for c in [*moved, *extra] if c in out.columns and c not in cols]
    seeds = "seed" in out.columns and out["seed"].nunique() > 1  # trial numbers restart with each seed
    table = out.sort_values("best_acc", ascending=False, na_position="last", kind="stable")
    key = [k for k in (["seed", "trial"] if seeds else ["trial"]) if k in table.columns]
    table = table.set_index(key) if key else table
    table = table[cols + ours]
    if not styled:
        return table
    number = APPENDIX_NUMBER.get(sp.name if sp else "")
    ours_text = [*ours, "seed"] if seeds else ours  # (an index level: named in the caption all the same)
    title = f"Appendix {number}" if number else "Trials"
    fixed = ""
    if sp:
        consts = [f"{paper_names.get(d.name, d.name)}={d.values[0]}" for d in sp.dimensions
                  if len(d.values) == 1 and paper_names.get(d.name, d.name) in hidden]
        fixed = f"; fixed in this round: {', '.join(consts)}" if consts else ""
    last = APPENDIX_PRINTED_LAST.get(sp.name if sp else "")
    unprinted = [c for c in cols if last and c > last]  # (the columns are in alphabetical order)
    printed = (f" (the paper's printed table ends at {last}; {', '.join(unprinted)} follow in its naming)"
               if unprinted else "")
    caption = (f"{title}: trials sorted by best_acc (best validation accuracy), the paper's columns" + printed
               + (f", then ours ({', '.join(ours_text)})" if ours_text else "") + fixed)
    # headers may wrap after an underscore (<wbr>): ~20 columns fit a 1,400 px page
    values = [c for c in table.columns if c in set(paper_names.values()) | set(moved)]  # hyperparameters: 0.001
    return (table.style.set_caption(caption).format(precision=4, na_rep="-")
            .format(value_label, subset=values, na_rep="-")
            .format_index(lambda c: html.escape(str(c)).replace("_", "_<wbr>"), axis=1))


@kept(by="column")
def group_summary(data, column: str, *, styled: bool = False):
    """``best_acc`` per value of ``column``: trials, mean, median, max (what a figure shows, as
    numbers). A multi-fidelity round's configs stopped below the top rung are scored after fewer
    epochs: two more columns give how many configs reached the top rung and their mean.
    ``styled=True``: a captioned Styler, 4 decimals (the report's)."""
    from .rounds import stopped_early

    frame, _ = _unpack(data)
    g = frame.groupby(column)["best_acc"]
    out = pd.DataFrame({"trials": g.size(), "mean best_acc": g.mean(), "median best_acc": g.median(),
                        "max best_acc": g.max()})
    low = stopped_early(frame)
    if low.any():
        rung = pd.to_numeric(frame["rung"], errors="coerce")
        top = int(rung.max())
        full = frame[rung == top].groupby(column)["best_acc"]  # not a config whose only rung failed
        out[f"at {top} epochs"] = full.size().reindex(out.index, fill_value=0)
        out[f"mean best_acc at {top} epochs"] = full.mean().reindex(out.index)
    out.attrs["caption"] = (f"Validation accuracy (best_acc) of the trials by {column}: how many, their mean, "
                            "median and maximum" + (f"; and of the configs trained to {top} epochs"
                                                    if low.any() else ""))
    if styled:
        return (out.style.set_caption(out.attrs["caption"]).format(precision=4)
                .format_index(value_label))
    return out


@kept()
def table_iv(data, *, styled: bool = False):
    """Table IV (accuracy on CIFAR-10 without data augmentation) with this run's row added: the
    TEST accuracy of the trial with the best VALIDATION accuracy (mean ± sample std over seeds
    when there are several), labelled with the dataset it was measured on."""
    from .rounds import RoundRun, best_by_seed, dataset_name

    frame, _ = _unpack(data)
    best = best_by_seed(frame)
    vals = [float(v) * 100 for v in best.get("test_acc", []) if v is not None and math.isfinite(float(v))]
    run = data if isinstance(data, RoundRun) else None
    name = dataset_name(frame, run, "?")
    dataset = run.dataset_label if run is not None else name
    rows = [{"Network": n, "Accuracy (%)": a, "± std": math.nan,
             "Dataset": "CIFAR-10 (the paper's best_acc: its validation split)" if "the paper" in n
             else "CIFAR-10 test set", "Source": "the paper's Table IV"} for n, a in PAPER_TABLE_IV]
    mean, std = numbers.mean_spread(vals)
    how = "test accuracy of the best-by-validation trial" + (f", mean ± std over {len(vals)} seeds"
                                                              if len(vals) > 1 else "")
    dataset_text = f"{'CIFAR-10' if name == 'cifar10' else name} test set — {dataset}"
    rows.append({"Network": "3Conv + 2FC + Dropout + stride 1 on all layers (OUR run)",
                 "Accuracy (%)": mean, "± std": std, "Dataset": dataset_text, "Source": f"measured: {how}"})
    table = pd.DataFrame(rows)
    if not styled:
        return table
    caption = "Table IV. Accuracy on CIFAR-10 without data augmentation, and OUR measured value"
    if name != "cifar10":
        caption += f" (ours is on {name}, NOT CIFAR-10: not comparable with the other rows)"

    def bold_ours(row):
        return ["font-weight: bold" if "OUR" in str(row["Network"]) else "" for _ in row]

    if table["± std"].isna().all():  # one seed: no spread to show
        table = table.drop(columns=["± std"])
    return (table.style.set_caption(caption).format({"Accuracy (%)": "{:.2f}", "± std": "{:.2f}"}, na_rep="",
                                                    subset=[c for c in ("Accuracy (%)", "± std") if c in table])
            .apply(bold_ours, axis=1).hide(axis="index")
            .set_properties(subset=["Network", "Dataset", "Source"], **{"text-align": "left"}))  # text reads left
