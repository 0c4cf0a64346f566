"""The package boundaries docs/architecture.md draws, checked from the code's
own imports (issue 14): a change to one package's insides must not break
another.

- Outside `pacer/scheduler/`, only its public face is imported: the package
  itself (`pacer.scheduler`) and `pacer.scheduler.api`.
- No import loops inside `pacer/scheduler/`.
- `pacer/store/` and `pacer/node/` import nothing from `pacer/scheduler/`.
- `pacer/model/` imports nothing from `pacer/status/`.
- `pacer/shims/` imports nothing from `pacer/cli/`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "pacer"
SCHEDULER_FACE = {"pacer.scheduler", "pacer.scheduler.api"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every pacer module `path` imports (at any level, lazily or not)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("pacer"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("pacer"):
                continue
            out.add(mod)
            for a in node.names:  # `from pacer.x import y` may name a module y
                if (ROOT.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(
                        ".py").exists():
                    out.add(f"{mod}.{a.name}")
    return out


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in ROOT.rglob("*.py")}


def _in(mod: str, package: str) -> bool:
    return mod == package or mod.startswith(package + ".")


def test_only_the_schedulers_face_is_imported_from_outside() -> None:
    bad = sorted(f"{m} -> {i}" for m, imps in _graph().items() if not _in(m, "pacer.scheduler")
                 for i in imps if _in(i, "pacer.scheduler") and i not in SCHEDULER_FACE)
    assert bad == [], "scheduler internals imported from outside:\n" + "\n".join(bad)


def test_no_import_loops_inside_the_scheduler() -> None:
    graph = {m: {i for i in imps if _in(i, "pacer.scheduler") and i != m}
             for m, imps in _graph().items() if _in(m, "pacer.scheduler")}
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                loops.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert loops == [], "import loops in the scheduler:\n" + "\n".join(
        " -> ".join(loop) for loop in loops)


def _forbidden(package: str, other: str) -> list[str]:
    return sorted(f"{m} -> {i}" for m, imps in _graph().items() if _in(m, package)
                  for i in imps if _in(i, other))


def test_store_and_node_do_not_import_the_scheduler() -> None:
    assert _forbidden("pacer.store", "pacer.scheduler") == []
    assert _forbidden("pacer.node", "pacer.scheduler") == []


def test_model_does_not_import_status() -> None:
    assert _forbidden("pacer.model", "pacer.status") == []


def test_shims_do_not_import_the_cli() -> None:
    assert _forbidden("pacer.shims", "pacer.cli") == []
