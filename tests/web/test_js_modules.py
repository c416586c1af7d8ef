"""No module of the browser UI keeps mutable state at module level (docs/ui.md, "Layers"): state
lives in the store (store.js, `createStore()`), view state in the closure of a `create…(ctx)`
function. A module-level `let`/`var`, or a module-level `const` Map, Set, array or object
that the module changes, would be shared by every page view built from it and hidden from the
store.

The check reads declarations at the start of a line (the modules are formatted: what is
indented is inside a function or block). A module-level container constant must be named in
UPPER_CASE and never changed in its module (no `.push`, `.set`, `.add`, `.delete`, …, no
assignment into it)."""

import re

from tests.servers import ROOT

MODULES = ROOT / "static" / "parley"

# What is not this project's code, and so not held to its rule (none vendored today).
VENDORED: frozenset[str] = frozenset()

TOP_LEVEL_LET = re.compile(r"^(?:export\s+)?(?:let|var)\s+([A-Za-z_$][\w$]*)", re.MULTILINE)
TOP_LEVEL_CONTAINER = re.compile(
    r"^(?:export\s+)?const\s+([A-Za-z_$][\w$]*)\s*=\s*(?:new\s+(?:Map|Set|WeakMap|WeakSet|Array|Object)\b|\[|\{)",
    re.MULTILINE,
)
MUTATORS = "push|pop|shift|unshift|splice|sort|reverse|fill|copyWithin|set|add|delete|clear"


def mutable_state(source: str) -> list[str]:
    """The module-level mutable state a module's source declares, one line per finding."""
    found = [f"let/var {name}" for name in TOP_LEVEL_LET.findall(source)]
    for name in TOP_LEVEL_CONTAINER.findall(source):
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            found.append(f"const {name} (a container named like a variable)")
            continue
        changed = re.compile(
            rf"(?<![\w$.]){re.escape(name)}\s*(?:\.\s*(?:{MUTATORS})\s*\(|(?:\[[^\]]*\]|\.\s*[\w$]+)\s*=(?!=))"
        )
        if changed.search(source):
            found.append(f"const {name} (changed in the module)")
    return found


def test_the_check_finds_module_level_state():
    # The shapes the older modules had before issue 16 moved their state into the store.
    assert mutable_state("let hooks = null; // {current(), flash(text)}\n") == ["let/var hooks"]
    assert mutable_state("const people = new Map();\n") == [
        "const people (a container named like a variable)"
    ]
    assert mutable_state("const REFS = new Set();\nfunction f(r) {\n  REFS.add(r);\n}\n") == [
        "const REFS (changed in the module)"
    ]
    assert mutable_state("const LIMITS = { a: 1 };\nLIMITS.a = 2;\n") == [
        "const LIMITS (changed in the module)"
    ]
    # Constants, and state inside functions, are fine.
    assert mutable_state('const COMMON = ["👍", "❤️"];\nconst x = COMMON.map((e) => e);\n') == []
    assert (
        mutable_state("export function f() {\n  let picker = null;\n  const m = new Map();\n}\n")
        == []
    )


def test_no_browser_module_keeps_mutable_state_at_module_level():
    modules = sorted(path for path in MODULES.glob("*.js") if path.name not in VENDORED)
    assert len(modules) > 20  # the glob found the modules
    findings = {
        path.name: found
        for path in modules
        if (found := mutable_state(path.read_text(encoding="utf-8")))
    }
    assert findings == {}
