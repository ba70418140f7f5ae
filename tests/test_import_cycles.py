"""No import cycles between studylib's modules, counting lazy imports inside functions and modules
named in strings (``importlib.import_module("studylib.runner")``, ``"module:Class"`` registries)."""
import ast
from pathlib import Path

import studylib

ROOT = Path(studylib.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = ("studylib",) + p.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = (base + "." + node.module if node.module else base) if node.level else node.module
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            targets = [node.value.split(":")[0]]
        for t in targets:
            while t not in mods and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in mods and t != name and not name.startswith(t + "."):  # a module's own package is fine
                found.add(t)
    return found


def _cycle(graph: dict) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(v, stack):
        state[v] = 1
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w, stack + [w])):
                return found
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v, [v])):
            return found
    return None


def test_no_import_cycles_lazy_ones_included():
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    assert graph["studylib.cli"] >= {"studylib.runner", "studylib.cliargs"}  # string plugins are seen
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_checker_finds_a_lazy_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
