"""The chat page's state store (static/parley/store.js) in Node: ingest and unread counts, who
read a message (the "Seen by" popover's data), and the window of message rows that keeps a long
conversation's DOM small. docs/ui.md, "Layers"."""

import shutil
import subprocess

import pytest

from tests.conftest import tool_missing
from tests.servers import ROOT

NODE = shutil.which("node") or "node"  # missing: FileNotFoundError names it
SCRIPT = ROOT / "tests" / "web" / "store_check.mjs"
STORE = ROOT / "static" / "parley" / "store.js"


@pytest.mark.skipif(tool_missing("node"), reason="Node.js is not installed")
def test_the_store_counts_unread_names_readers_and_windows_long_conversations():
    run = subprocess.run(
        [NODE, "--no-warnings", str(SCRIPT), str(STORE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok"
