"""The shape of the codebase (docs/architecture.md): layers only look down, packages form no
loop, and each top-level package name resolves to this repository.

LAYERS is the one definition of the layers; the picture in docs/architecture.md draws it."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Layer of each package (the longest prefix decides), lowest first. A module may import from its
# own layer and the layers below it, never from a layer above.
LAYERS: dict[str, int] = {
    "core": 0,  # settings, errors, strict, schema, durable, periods, registry files, landing format
    "transforms.standards": 1,  # domain: the standards' formulas (pure)
    "transforms.qc.checks": 1,  # domain: the QC checks (pure)
    "transforms.qc.flags": 1,  # domain: the QC flag vocabulary the checks give
    "warehouse": 2,  # storage
    "ingest": 3,  # processes
    "transforms": 3,
    "alerts": 3,
    "notify": 3,
    "publish": 4,  # outputs
    "sim": 4,
    "envmon": 5,  # app: CLI, pipeline, Airflow glue, demo
    "dags": 5,
}
LAYER_NAMES = ("core", "domain", "storage", "processes", "outputs", "app")
PACKAGES = ["core", "envmon", "ingest", "transforms", "alerts", "notify", "warehouse", "publish", "sim"]
# The domain is pure: no database, no network, no files but its own tables.
DOMAIN_FORBIDDEN = ("duckdb", "paho", "socket", "asyncio", "airflow", "great_expectations")


def layer_of(module: str) -> tuple[str, int] | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key, LAYERS[key]
    return None


def product_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in [*PACKAGES, "dags"]:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a file, at any depth (lazy imports count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            # `from pkg import module` imports the module
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def resolved_imports(path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    """The product modules a file imports: (line, module), once each."""
    found = {}
    for line, target in imports_of(path):
        module = target if target in modules else target.rsplit(".", 1)[0]
        if module in modules:
            found.setdefault(module, line)
    return sorted((line, module) for module, line in found.items())


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def upward_imports(modules: dict[str, Path]) -> list[str]:
    problems = []
    for name, path in modules.items():
        mine = layer_of(name)
        assert mine is not None, f"{path}: its package has no layer in LAYERS"
        for line, target in resolved_imports(path, modules):
            theirs = layer_of(target)
            if theirs is not None and theirs[1] > mine[1]:
                problems.append(
                    f"{shown(path)}:{line}: {name} ({LAYER_NAMES[mine[1]]}) imports "
                    f"{target} ({LAYER_NAMES[theirs[1]]}), a layer above"
                )
    return problems


def package_of(module: str) -> str:
    """The unit of the loop check: a top-level package, or transforms' three parts."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "transforms" and len(parts) > 1 else parts[0]


def package_loops(modules: dict[str, Path]) -> list[list[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        for _line, target in resolved_imports(path, modules):
            a, b = package_of(name), package_of(target)
            if a != b and "transforms" not in (a, b):
                edges.setdefault(a, set()).add(b)
    loops, seen = [], set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in stack:
                loop = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(loop)
                if key not in seen:
                    seen.add(key)
                    loops.append(loop)
            else:
                visit(nxt, [*stack, nxt])

    for start in sorted(edges):
        visit(start, [start])
    return loops


def test_layers_only_look_down() -> None:
    problems = upward_imports(product_modules())
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_no_package_imports_another_in_a_loop() -> None:
    loops = package_loops(product_modules())
    assert not loops, "package loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_domain_is_pure() -> None:
    problems = [
        f"{shown(path)}:{line}: imports {target}"
        for name, path in product_modules().items()
        if (layer_of(name) or ("", -1))[1] == LAYERS["transforms.standards"]
        for line, target in imports_of(path)
        if target.split(".")[0] in DOMAIN_FORBIDDEN
    ]
    assert not problems, "\n".join(problems)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check is not vacuous: a storage module importing the app is reported, with its line."""
    fake = tmp_path / "bad.py"
    fake.write_text("import os\nfrom envmon.pipeline import run_stage\n")
    modules = product_modules() | {"warehouse.bad": fake}
    problems = [p for p in upward_imports(modules) if "warehouse.bad" in p]
    assert len(problems) == 1 and ":2: warehouse.bad (storage) imports envmon.pipeline (app)" in problems[0]


def test_the_check_sees_a_loop(tmp_path: Path) -> None:
    fake = tmp_path / "bad.py"
    fake.write_text("from publish.jobs import publish_daily\n")
    modules = product_modules() | {"sim.bad": fake}
    first = tmp_path / "bad2.py"
    first.write_text("from sim.generator import generate\n")
    modules["publish.bad2"] = first
    assert any(set(loop) >= {"sim", "publish"} for loop in package_loops(modules))


@pytest.mark.parametrize("name", PACKAGES)
def test_package_resolves_to_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name


@pytest.mark.parametrize("name", PACKAGES)
def test_package_resolves_from_another_directory(name: str, tmp_path: Path) -> None:
    """An installed envmon finds these packages even when run outside the clone."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {name}, pathlib; print(pathlib.Path({name}.__file__).resolve().parent)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert Path(out.stdout.strip()) == REPO / name


def test_top_level_folders_exist() -> None:
    for folder in ("dags", "config", "tests", "bench", "warehouse/migrations"):
        assert (REPO / folder).is_dir(), folder
