"""A notebook's parameters: what its cell tagged ``parameters`` declares (papermill's reading of
it, and Python's, which papermill misses where a declaration does not fit on its line), and the
values ``studylib run -p KEY=VALUE`` gives them (read as YAML, then as the declared type).

Heavy imports (papermill, yaml) stay inside functions: ``studylib --help`` loads this.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import StudyError, first_line
from .notebook_exec import KERNEL_NAME


def parameters_cell(nb: Path):
    """The notebook's cell tagged ``parameters`` (None: it has none), read as papermill reads it."""
    from papermill.iorw import load_notebook_node
    from papermill.utils import find_first_tagged_cell_index

    try:
        node = load_notebook_node(str(nb))
    except (OSError, ValueError) as e:
        raise StudyError(f"cannot read notebook {nb}: {first_line(e)}") from None
    i = find_first_tagged_cell_index(node, "parameters")
    return node.cells[i] if i >= 0 else None


@dataclass(frozen=True)
class Parameters:
    """What a notebook's parameters cell declares, read once (:func:`read`)."""

    #: name -> papermill's inspection of it (``inferred_type_name``, ``default``, ...)
    declared: dict
    #: every name the cell assigns, read as Python, -> its annotation as papermill spells one
    #: (``Optional[str]``; None: no annotation). Papermill reads a line at a time and misses some
    #: (``x: str | None = None``): those are here and not in ``declared``.
    assigned: dict

    def missed(self) -> dict:
        """The names the cell assigns that papermill cannot read (so cannot set)."""
        return {k: a for k, a in self.assigned.items() if k not in self.declared}


def read(nb: Path) -> Parameters:
    """The parameters cell of ``nb`` (:func:`parameters_cell`) read by papermill and as Python,
    the kernel every round runs on whatever the notebook's kernelspec says (one made with
    nbformat or jupytext may have none)."""
    import ast

    from papermill.translators import papermill_translators

    cell = parameters_cell(nb)
    found = papermill_translators.find_translator(KERNEL_NAME, "python").inspect(cell) if cell else []
    assigned: dict[str, str | None] = {}
    try:
        tree = ast.parse(cell.source if cell else "")
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for stmt in tree.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            assigned[stmt.target.id] = typing_spelling(stmt.annotation)
        elif isinstance(stmt, ast.Assign):
            assigned.update({t.id: None for t in stmt.targets if isinstance(t, ast.Name)})
    return Parameters({p.name: p._asdict() for p in found}, assigned)


def typing_spelling(annotation) -> str:
    """An annotation as papermill reads it: ``int | None`` -> ``Optional[int]``, ``str | list`` ->
    ``Union[str, list]``."""
    import ast

    def members(node) -> list:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return members(node.left) + members(node.right)
        return [node]

    parts = members(annotation)
    if len(parts) == 1:
        return ast.unparse(annotation)
    names = [ast.unparse(n) for n in parts if ast.unparse(n) != "None"]
    inner = names[0] if len(names) == 1 else f"Union[{', '.join(names)}]"
    return f"Optional[{inner}]" if len(names) < len(parts) else inner


def unreadable(nb: Path, name: str, key: str, spellings: dict) -> StudyError:
    """The error for ``key``, a name the parameters cell of round ``name`` assigns but papermill
    cannot read; ``spellings``: :attr:`Parameters.assigned`."""
    spelling = spellings.get(key)
    how = f"`{key}: {spelling} = ...`" if spelling else "one name, a plain annotation and a value on one line"
    return StudyError(f"notebook {nb.name} (round {name}): papermill cannot read the declaration of {key!r} in its "
                      f"parameters cell (write {how}; from typing import Optional, Union)")


def as_declared(value, text: str, type_name: str | None):
    """A ``-p`` value (read as YAML) for a parameter annotated as text (``str``, ``str | None``):
    a number or true/false the annotation does not allow is kept as the ``text`` given."""
    names = set(re.findall(r"[A-Za-z_]+", type_name or ""))
    if "str" in names and isinstance(value, (bool, int, float)) and not names & {"bool", "int", "float"}:
        return text
    return value


def key_value(item: str) -> tuple[str, object]:
    """A ``-p KEY=VALUE`` item as (key, value read as YAML: :func:`~studylib.space_file.load_yaml`)."""
    import yaml

    from .space_file import load_yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise StudyError(f"-p expects KEY=VALUE, got {item!r}")
    if not text.strip():  # YAML reads it as null, which a notebook may take as "its default"
        raise StudyError(f"-p {key.strip()}= has no value: give one (null for None), or leave -p {key.strip()} out")
    try:
        return key.strip(), load_yaml(text)
    except (yaml.YAMLError, ValueError, OverflowError):  # also a date that is none (2001-02-30)
        raise StudyError(f"-p {key.strip()}: cannot read value {text!r}") from None
