"""Architecture rules, checked on the source: no import cycle inside spikescope/, no private
name imported across modules, no UI library in the core, no module far past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "spikescope"
UI = ("panel", "holoviews", "bokeh", "datashader", "param")
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, is_pkg: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (imports for annotations only)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _imports() -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> [(imported module, imported names, line)] for every import in its source
    (inside functions too), skipping TYPE_CHECKING blocks."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    out: dict[str, list[tuple[str, list[str], int]]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        found = []
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                found += [(a.name, [], node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, _is_package(path), node.level, node.module)
                names = [a.name for a in node.names]
                # "from . import x" imports the submodule x when there is one
                subs = [n for n in names if f"{target}.{n}" in modules]
                found += [(f"{target}.{n}", [], node.lineno) for n in subs]
                found.append((target, [n for n in names if n not in subs], node.lineno))
        out[mod] = found
    return out


IMPORTS = _imports()
MODULES = set(IMPORTS)


def _internal(target: str) -> str | None:
    """The spikescope module ``target`` names (a package counts as its __init__)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_no_import_cycle_inside_spikescope():
    graph = {m: {t for t in (_internal(x) for x, _, _ in imps) if t and t != m}
             for m, imps in IMPORTS.items()}
    # a package's __init__ re-exporting its own modules is not a cycle through them
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_private_name_imported_across_modules():
    bad = [f"{m}:{line} imports {name} from {target}"
           for m, imps in IMPORTS.items() for target, names, line in imps
           for name in names
           if name.startswith("_") and not name.startswith("__") and _internal(target)
           and _internal(target) != m]
    assert not bad, "\n".join(bad)


def test_core_imports_no_ui_library():
    bad = [f"{m}:{line} imports {target}" for m, imps in IMPORTS.items()
           for target, _, line in imps if target.split(".")[0] in UI]
    assert not bad, "\n".join(bad)


def test_modules_stay_small():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
