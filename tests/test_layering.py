"""Who may import whom, read from the source with ``ast`` (design.md, "Layout").

The rules keep the pipeline readable: the pure core stays pure, a provider
stays a translator, and the emulators stay independent of what they check.
A function-level import counts like any other: hiding one in a function does
not make a layer violation go away.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GROUND = {"calsync.model", "calsync.timeutil", "calsync.config", "calsync.secrets",
          "calsync.faults"}


def _modules(package_dir: Path, package: str) -> dict[str, Path]:
    found = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


PRODUCT = _modules(ROOT / "calsync", "calsync")
EMULATORS = _modules(ROOT / "emulators" / "calsync_emulators", "calsync_emulators")


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` imports, absolute, wherever the import statement sits."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_package else parent[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            yield base
            # "from calsync.providers import factory" imports a module too.
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _targets(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    return {name for name in _imports(module, path) if name in known}


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _violations(rule) -> list[str]:
    bad = []
    for module, path in PRODUCT.items():
        for target in sorted(_targets(module, path, PRODUCT)):
            problem = rule(module, target)
            if problem:
                bad.append(f"{module} imports {target}: {problem}")
    return bad


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_policies_import_only_the_model_time_helpers_and_each_other() -> None:
    allowed = {"calsync.model", "calsync.timeutil"}

    def rule(module: str, target: str) -> str | None:
        if _in(module, "calsync.policies") and not (
            target in allowed or _in(target, "calsync.policies")
        ):
            return "policies are pure: only the model, time helpers and other policies"
        return None

    assert _violations(rule) == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("calsync.providers", ["calsync.policies", "calsync.store", "calsync.engine",
                               "calsync.service", "calsync.cli", "calsync.report"]),
        ("calsync.store", ["calsync.policies", "calsync.engine", "calsync.service",
                           "calsync.cli", "calsync.providers"]),
        ("calsync.engine", ["calsync.service", "calsync.cli"]),
        ("calsync.report", ["calsync.service", "calsync.cli"]),
        ("calsync.service", ["calsync.cli"]),
    ],
)
def test_layers_do_not_reach_up(layer: str, forbidden: list[str]) -> None:
    def rule(module: str, target: str) -> str | None:
        if _in(module, layer) and any(_in(target, f) for f in forbidden):
            return f"{layer} must not import {_layer(target)}"
        return None

    assert _violations(rule) == []


def test_the_ground_imports_only_the_ground() -> None:
    def rule(module: str, target: str) -> str | None:
        if module in GROUND and target not in GROUND:
            return "the ground (model, time, config, secrets) stands on nothing else"
        return None

    assert _violations(rule) == []


def test_only_the_demo_imports_the_emulators() -> None:
    users = sorted(
        module for module, path in PRODUCT.items()
        if any(name.split(".")[0] == "calsync_emulators" for name in _imports(module, path))
    )
    assert all(_in(module, "calsync.demo") for module in users), users


def test_the_emulators_import_nothing_from_calsync() -> None:
    users = sorted(
        module for module, path in EMULATORS.items()
        if any(name.split(".")[0] == "calsync" for name in _imports(module, path))
    )
    assert users == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> imported modules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph = {}
    for module, path in modules.items():
        # A package's __init__ re-exporting its modules is not a cycle of the design.
        graph[module] = {t for t in _targets(module, path, modules) if not _in(module, t)}
    return graph


@pytest.mark.parametrize("modules", [PRODUCT, EMULATORS], ids=["calsync", "calsync_emulators"])
def test_no_import_cycles(modules: dict[str, Path]) -> None:
    assert _cycle(_graph(modules)) is None


def test_the_checker_sees_a_cycle_and_a_hidden_import(tmp_path: Path) -> None:
    """The rules above would pass vacuously if the reader missed imports."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from calsync.service import metrics\n")
    assert "calsync.service.metrics" in set(_imports("calsync.engine.x", source))
    relative = tmp_path / "rel.py"
    relative.write_text("from .. import store\n")
    assert "calsync.store" in set(_imports("calsync.engine.plan", relative))
