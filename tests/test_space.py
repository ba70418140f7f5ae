import itertools
import json
import math

import numpy as np
import pytest
import yaml

from studylib.errors import StudyError
from studylib.space import Dimension, SearchSpace, make_dimension
from studylib.space_file import load_space


def test_round_counts_match_the_paper():
    assert load_space("round3").size == 3_072
    assert load_space("round1").size == 20_736


def test_paper_15116544_is_tables_one_and_two_times_three_border_crops():
    """Tables I + II multiply to 5,038,848; the paper's 15,116,544 is exactly 3x that: the product
    once the border crop of [0, 1, 2] pixels counts as a dimension (how round2.yaml encodes it)."""
    space = load_space("round2")
    assert space.size == 15_116_544
    tables_1_2 = math.prod(len(d) for d in space.dimensions if d.name not in ("border_crop", "stride"))
    assert tables_1_2 == 5_038_848
    assert space.size == tables_1_2 * len(space["border_crop"].values) == tables_1_2 * 3


def test_sample_is_reproducible_and_round_trips_through_genome():
    space = load_space("round2")
    a = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(1)
    for _ in range(50):
        config = space.sample(rng)
        genome = space.encode(config)
        assert all(0 <= g < len(d) for g, d in zip(genome, space.dimensions))
        assert space.decode(genome) == config
        assert space.config_at(space.index_of(config)) == config


def test_grid_is_lazy_and_complete():
    big = load_space("round2")
    first = list(itertools.islice(big.grid(), 3))  # would take forever if materialised
    assert first[0] == big.config_at(0) and len(first) == 3
    small = load_space("round3")
    keys = {SearchSpace.key(c) for c in small.grid()}
    assert len(keys) == small.size == 3_072


def test_neighbours_step_ordinal_by_one_and_swap_categoricals():
    space = load_space("round2")
    config = space.config_at(0)  # every gene at index 0
    nbrs = space.neighbours(config)
    # ordinal at index 0 can only go up (+1); categoricals (activation, optimizer) offer 2 others each
    n_ordinal = sum(1 for d in space.dimensions if d.ordinal and len(d) > 1)
    n_categorical = sum(len(d) - 1 for d in space.dimensions if not d.ordinal)
    assert len(nbrs) == n_ordinal + n_categorical
    for n in nbrs:
        diff = [d.name for d in space.dimensions if n[d.name] != config[d.name]]
        assert len(diff) == 1
        d = space[diff[0]]
        if d.ordinal:
            assert d.index(n[d.name]) == 1
    mid = dict(config, learning_rate=0.0015)
    lrs = sorted(n["learning_rate"] for n in space.neighbours(mid) if n["learning_rate"] != 0.0015)
    assert lrs == [0.001, 0.002]


def test_dimensions_and_spaces_round_trip_through_json():
    space = load_space("round3")
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space and again.size == space.size
    d = space["learning_rate"]
    assert Dimension.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def _write(tmp_path, data, name="space.yaml"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


GOOD = {"name": "mine", "dimensions": [
    {"name": "filters1", "values": [8, 16]}, {"name": "ksize1", "values": [3]},
    {"name": "hidden1", "values": [32]}, {"name": "hidden2", "values": [32]},
    {"name": "learning_rate", "values": [0.001, 0.01]}, {"name": "batch_size", "values": [32]}]}


def test_user_space_file_loads(tmp_path):
    space = load_space(_write(tmp_path, GOOD))
    assert space.name == "mine" and space.size == 4
    js = load_space(_write(tmp_path, json.dumps(GOOD), "space.json"))
    assert js == space


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["dimensions"].append({"name": "colour", "values": [1]}), "unknown hyperparameter 'colour'"),
    (lambda d: d["dimensions"][0].update(values=[8, -16]), "'filters1': value -16 is not a positive integer"),
    (lambda d: d["dimensions"][0].update(values=[]), "'filters1': 'values' must be a non-empty list"),
    (lambda d: d["dimensions"].pop(5), "required hyperparameter 'batch_size' is missing"),
    (lambda d: d.update(dimension=d.pop("dimensions")), "(unknown key 'dimension': did you mean 'dimensions'?)"),
    (lambda d: d["dimensions"][4].update(name="learning_rat"), "unknown hyperparameter 'learning_rat' (did you mean "
                                                              "'learning_rate'? known: activation,"),
    (lambda d: d["dimensions"][4].update(low=1e-4, high=0.1) or d["dimensions"][4].pop("values"),
     "dimension #5 needs 'name' and 'values' (unknown key 'high'); a range is given as its list of values"),
    (lambda d: d["dimensions"].append({"name": "hidden1", "values": [8]}), "'hidden1' appears twice"),
    (lambda d: d["dimensions"].append({"name": "activation", "values": ["tanh"]}), "'activation': value 'tanh'"),
    (lambda d: d["dimensions"].append({"name": "filters2", "values": [8]}), "filters2 and ksize2 must be given"),
    (lambda d: d["dimensions"][4].update(values=[0.1, 0.1]), "'learning_rate': values repeat"),
    (lambda d: d["dimensions"].append({"name": "dropout", "values": [0, 0.5, 0.0]}),
     "'dropout': values repeat (0 and 0.0 are one value)"),  # one config under two ledger keys
    (lambda d: [d["dimensions"].pop(i) for i in (5, 3, 2)], "required hyperparameters 'hidden1', 'hidden2', "
                                                            "'batch_size' are missing"),  # all at once
    (lambda d: d.update({"filters1": [8, 16], "ksize1": [3]}) or d.pop("dimensions"),  # a flat file
     "expected a mapping with 'name' and 'dimensions', a list of hyperparameters (hyperparameters such as "
     "'filters1', 'ksize1' go in it as {name: ..., values: [...]})"),
    (lambda d: d.update(name=["a", "b"]), "name must be text, got ['a', 'b']"),  # it names the study's files
    (lambda d: d["dimensions"][0].update(values=[8, 100000000]),  # a typo that would take the machine's memory
     "'filters1': value 100000000 is not a positive integer up to 4,096"),
    (lambda d: d["dimensions"][2].update(values=[32, 65537]), "'hidden1': value 65537 is not a positive integer up "
                                                              "to 65,536"),
])
def test_bad_space_files_give_precise_errors(tmp_path, mutate, message):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(StudyError) as e:
        load_space(path)
    assert message in str(e.value) and str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_space_files(tmp_path):
    with pytest.raises(StudyError, match="not valid YAML: line 1, column 22: expected"):
        load_space(_write(tmp_path, "dimensions: [unclosed"))
    with pytest.raises(StudyError, match="space file not found"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(StudyError, match=r"space file .* is a folder \(a space file is a .yaml or .json file\)"):
        load_space(tmp_path)
    with pytest.raises(StudyError, match="no space given: use round1, round2, round3 or a path"):
        load_space("")  # (Path("") is the current folder)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(StudyError, match=r"latin1.yaml is not UTF-8 text \('utf-8' codec can't decode byte 0xe9"):
        load_space(tmp_path / "latin1.yaml")
    with pytest.raises(StudyError, match="unknown round 'round7'"):
        load_space("round7")
    with pytest.raises(StudyError, match="unknown round 'rond1': did you mean 'round1'"):
        load_space("rond1")
    with pytest.raises(StudyError, match=r"space file not found: .*nope \(a space file is a .yaml or .json file\)"):
        load_space(tmp_path / "nope")


def test_exponents_without_a_dot_are_numbers_and_quoted_ones_text(tmp_path):
    """PyYAML (YAML 1.1) reads ``1e-3`` as text; a space file reads it as JSON and YAML 1.2 do."""
    text = ("name: mine\ndimensions:\n  - {name: filters1, values: [8]}\n  - {name: ksize1, values: [3]}\n"
            "  - {name: hidden1, values: [32]}\n  - {name: hidden2, values: [32]}\n"
            "  - {name: learning_rate, values: [1e-3, 25E-3, 1.0e-1]}\n  - {name: batch_size, values: [32]}\n")
    assert yaml.safe_load(text)["dimensions"][4]["values"][0] == "1e-3"  # PyYAML alone: text
    assert load_space(_write(tmp_path, text))["learning_rate"].values == (0.001, 0.025, 0.1)
    quoted = _write(tmp_path, text.replace("1e-3", "'1e-3'"), name="quoted.yaml")
    with pytest.raises(StudyError, match="'learning_rate': value '1e-3' is not a positive number"):
        load_space(quoted)


def test_dimension_kinds_default_from_values_and_can_be_set():
    assert make_dimension("x", [1, 2.5]).kind == "ordinal"
    assert make_dimension("s", ["a", "b"]).kind == "categorical"
    assert make_dimension("b", [True, False]).kind == "categorical"
    assert make_dimension("mixed", [1, "a"]).kind == "categorical"
    assert not make_dimension("x", [1, 2], kind="categorical").ordinal
    assert make_dimension("size", ["s", "m", "l"], kind="ordinal").ordinal
    with pytest.raises(StudyError, match="'x': kind must be ordinal or categorical, not 'nominal'"):
        make_dimension("x", [1, 2], kind="nominal")
    # the paper's spaces: strings categorical, numbers ordinal, from the values alone
    space = load_space("round2")
    assert {d.name for d in space.dimensions if not d.ordinal} == {"activation", "optimizer"}


def test_kind_in_space_files_steers_neighbours_and_the_fingerprint(tmp_path):
    data = json.loads(json.dumps(GOOD))
    plain = load_space(_write(tmp_path, data))
    assert plain["learning_rate"].kind == "ordinal"
    data["dimensions"][0]["values"] = [8, 16, 32]
    data["dimensions"][0]["kind"] = "categorical"
    data["dimensions"][4]["kind"] = "ordinal"  # the default, written out
    space = load_space(_write(tmp_path, data, "kinds.yaml"))
    assert space["filters1"].kind == "categorical" and space["learning_rate"].ordinal
    config = space.config_at(0)  # filters1=8: categorical, so 16 and 32 are both one step away
    assert sorted(n["filters1"] for n in space.neighbours(config) if n["filters1"] != 8) == [16, 32]
    # kinds round-trip, and the fingerprint covers them (defaults included, deterministically)
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space and again.fingerprint() == space.fingerprint()
    assert space.to_dict()["dimensions"][4]["kind"] == "ordinal"
    data["dimensions"][0]["kind"] = "ordinal"
    ordinal = load_space(_write(tmp_path, data, "ordinal.yaml"))
    assert ordinal.fingerprint() != space.fingerprint()
    assert [n["filters1"] for n in ordinal.neighbours(config) if n["filters1"] != 8] == [16]


@pytest.mark.parametrize("kind", ["nominal", 3, ["ordinal"]])
def test_bad_kind_in_a_space_file_is_one_line_naming_the_dimension(tmp_path, kind):
    data = json.loads(json.dumps(GOOD))
    data["dimensions"][4]["kind"] = kind
    path = _write(tmp_path, data)
    with pytest.raises(StudyError) as e:
        load_space(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: 'learning_rate': kind must be ordinal or categorical") and "\n" not in msg


def test_a_key_written_twice_is_refused_and_a_byte_order_mark_is_skipped(tmp_path):
    """YAML and JSON readers keep the last of two equal keys silently: here it is one line."""
    with pytest.raises(StudyError, match="line 2, column 48: found duplicate key 'values'"):
        load_space(_write(tmp_path, "name: mine\ndimensions: [{name: filters1, values: [8, 16], values: [32]}]\n"))
    twice = json.dumps(GOOD).replace('"name": "mine"', '"name": "mine", "name": "yours"')
    with pytest.raises(StudyError, match=r"not valid JSON \(duplicate key 'name'\)"):
        load_space(_write(tmp_path, twice, "space.json"))
    with pytest.raises(StudyError, match="'name' is empty \\(null\\): give the space a name, or leave 'name' out"):
        load_space(_write(tmp_path, {**GOOD, "name": None}))
    merged = ("name: mine\ndimensions:\n  - &d {name: filters1, values: [8, 16]}\n  - {<<: *d, name: ksize1, values: [3]}\n"
              + "".join(f"  - {{name: {n}, values: [{v}]}}\n" for n, v in
                        [("hidden1", 32), ("hidden2", 32), ("learning_rate", 0.01), ("batch_size", 32)]))
    assert load_space(_write(tmp_path, merged)).size == 2  # a merge key's values may be overridden
    with pytest.raises(StudyError, match="found unhashable key"):
        load_space(_write(tmp_path, "? [1, 2]\n: 3\n"))
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    assert load_space(path).size == 4
