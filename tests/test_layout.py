"""The package layout keeps its direction: the declared dialogs never reach up into the handlers, the
PTB context or ``telegram.ext``; storage never calls up into services, handlers or delivery; and no
two modules of ``bot/`` import each other, directly or round a loop.

Read from the source (every ``import``, also those inside functions; ``if TYPE_CHECKING:`` blocks
are annotations only and left out), so nothing is imported to check it."""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "bot").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for body in node.body for n in ast.walk(body))
    return skipped


@lru_cache(maxsize=None)
def imported_names(module: str) -> frozenset[str]:
    """Every module name ``module`` imports, made absolute (``from a import b``: ``a.b`` when that is a
    module of bot/, else ``a``)."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:  # ``from package import submodule`` imports the submodule
                names.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules() else base)
    return frozenset(names)


def project_imports(module: str) -> set[str]:
    """The modules of bot/ that ``module`` imports."""
    out = set()
    for name in imported_names(module):
        while name and name not in modules():
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


def reachable(start: str) -> set[str]:
    """What importing ``start`` runs: its imports, theirs, and the packages (``__init__``) around each."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(project_imports(m))
        parent = m.rpartition(".")[0]
        if parent in modules():
            todo.append(parent)
    return seen


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _package(package: str) -> list[str]:
    return sorted(m for m in modules() if _under(m, package))


def test_dialogs_reach_neither_handlers_nor_the_ptb_context():
    for module in _package("bot.dialogs"):
        closure = reachable(module)
        assert not [m for m in closure if _under(m, "bot.handlers") or _under(m, "bot.context")], module
        for m in closure:
            assert not [n for n in imported_names(m) if _under(n, "telegram.ext")], (module, m)


def test_storage_never_calls_up():
    for module in _package("bot.storage"):
        up = [m for m in project_imports(module)
              if any(_under(m, p) for p in ("bot.services", "bot.handlers", "bot.delivery", "bot.dialogs",
                                             "bot.context", "bot.telegram.app"))]
        assert not up, (module, up)


def test_no_import_cycles_in_bot():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in project_imports(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(modules()):
        if module not in index:
            visit(module)
    assert not cycles, cycles


def test_the_checker_sees_lazy_imports_and_skips_annotations_only_ones():
    # bot.dialogs.ports imports its collaborators for annotations only
    assert not project_imports("bot.dialogs.ports")
    # handlers/dialog_chat imports bot.handlers.common at module level
    assert "bot.handlers.common" in project_imports("bot.handlers.dialog_chat")
