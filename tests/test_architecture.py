"""Rules of the code's shape that no linter checks, read from the source with `ast`.

No module-level registries (docs/architecture.md): long-lived per-process state is built once at
start-up by an AppConfig.ready (or the ASGI Runtime) and reached through the app registry, so a
test can reset it and nothing hides in a module global. Caught here: `global` statements,
`functools.cache`/`lru_cache` outside a few pure functions, and module-level containers that the
module mutates afterwards.
"""

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Cached functions allowed to stay: each a pure function of its arguments (no client, no
# registry), so the cache holds nothing a test or a fork would need to reset.
PURE_CACHED = {
    # Parsing PARLEY_TRUSTED_PROXIES: the networks of a tuple of strings, keyed by that tuple.
    ("protection/addresses.py", "_trusted"),
}

# Module-level containers allowed to be mutated, with why: none today.
MUTABLE_GLOBALS: set[tuple[str, str]] = set()

CONTAINER_CALLS = {
    "dict", "list", "set", "defaultdict", "OrderedDict", "deque",
    "WeakKeyDictionary", "WeakValueDictionary", "WeakSet",
}  # fmt: skip
MUTATING_METHODS = {
    "append", "extend", "insert", "add", "update", "pop", "popitem", "clear", "setdefault",
    "remove", "discard", "appendleft", "popleft", "__setitem__", "__delitem__",
}  # fmt: skip


def first_party_modules() -> Iterator[tuple[str, ast.Module]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        packages = tomllib.load(file)["tool"]["importlinter"]["root_packages"]
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            yield name, ast.parse(path.read_text(), filename=name)


def _is_container(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return name in CONTAINER_CALLS
    return False


def _module_containers(module: ast.Module) -> set[str]:
    names = set()
    for statement in module.body:
        if isinstance(statement, ast.Assign) and _is_container(statement.value):
            names |= {t.id for t in statement.targets if isinstance(t, ast.Name)}
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and _is_container(statement.value)
        ):
            names.add(statement.target.id)
    return names


def _mutated(module: ast.Module, names: set[str]) -> set[str]:
    """Which of these names the module changes in place (item assignment or deletion, augmented
    assignment, a mutating method)."""
    found = set()
    for node in ast.walk(module):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Subscript) and isinstance(part.value, ast.Name):
                    found.add(part.value.id)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATING_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            found.add(node.func.value.id)
    return found & names


def _cache_decorator(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
    return name in {"cache", "lru_cache"}


def test_no_global_statements():
    found = [
        f"{name}:{node.lineno} global {', '.join(node.names)}"
        for name, module in first_party_modules()
        for node in ast.walk(module)
        if isinstance(node, ast.Global)
    ]
    assert not found, "module state changed through `global`; give it an owner:\n" + "\n".join(
        found
    )


def test_only_pure_functions_are_cached():
    found = [
        f"{name}:{node.lineno} {node.name}"
        for name, module in first_party_modules()
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_cache_decorator(d) for d in node.decorator_list)
        and (name, node.name) not in PURE_CACHED
    ]
    assert not found, (
        "functools.cache/lru_cache keeps process state in a module (a client, a registry); "
        "build it at start-up instead, or add a pure function to PURE_CACHED:\n" + "\n".join(found)
    )


def test_no_mutable_module_level_containers():
    found = [
        f"{name} {variable}"
        for name, module in first_party_modules()
        for variable in sorted(_mutated(module, _module_containers(module)))
        if (name, variable) not in MUTABLE_GLOBALS
    ]
    assert not found, (
        "module-level containers that the module mutates (registries in globals); "
        "give them an owner built at start-up:\n" + "\n".join(found)
    )


def test_the_checks_see_what_they_look_for():
    # A check that finds nothing because it reads nothing would pass forever.
    assert sum(1 for _ in first_party_modules()) > 200
    module = ast.parse(
        "_seen = {}\n_order: list[int] = []\n_kept = set()\nLIMITS = {'a': 1}\n"
        "def note(key):\n    _seen[key] = 1\n    _order.append(key)\n    return LIMITS['a']\n"
    )
    assert _mutated(module, _module_containers(module)) == {"_seen", "_order"}
    cached = ast.parse("import functools\n@functools.cache\ndef client(): ...\n")
    assert _cache_decorator(cached.body[1].decorator_list[0])  # type: ignore[attr-defined]
