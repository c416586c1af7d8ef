"""Static files in production (DEBUG off, after collectstatic): hashed names in the pages and in
the ES modules' imports, gzip, and a year-long immutable cache (chatsite/staticfiles.py)."""

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.servers import ROOT, daphne
from tests.web.browser import server_env

pytestmark = pytest.mark.django_db(transaction=True)


def fetch(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    return urllib.request.urlopen(request, timeout=15)  # noqa: S310


def test_collected_static_files_are_hashed_compressed_and_cached(tmp_path, django_db_setup):
    env = {**server_env(tmp_path), "PARLEY_VAR_DIR": str(tmp_path), "DEBUG": "0"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    app = manifest["parley/app.js"]
    assert re.fullmatch(r"parley/app\.[0-9a-f]{12}\.js", app)
    # Every module's imports point at a hashed file that was collected: a deploy serves no
    # module whose import would 404 (a comment that reads like a module statement once made
    # collectstatic hash an import twice).
    hashed = set(manifest.values())
    for name, stored in manifest.items():
        if name.startswith("parley/") and name.endswith(".js"):
            source = (tmp_path / "static" / stored).read_text()
            for target in re.findall(r"""from\s*["']\./([^"']+)["']""", source):
                assert f"parley/{target}" in hashed, (name, target)
    with daphne(env) as port:
        base = f"http://127.0.0.1:{port}"
        page = fetch(f"{base}/login/").read().decode()
        assert f'/static/{manifest["parley/chat.css"]}"' in page
        assert f'/static/{manifest["parley/favicon.svg"]}"' in page

        module = fetch(f"{base}/static/{app}", **{"Accept-Encoding": "gzip"})
        assert module.headers["Content-Encoding"] == "gzip"
        assert "immutable" in module.headers["Cache-Control"]
        assert "max-age=315360000" in module.headers["Cache-Control"]
        source = fetch(f"{base}/static/{app}").read().decode()
        # The modules' own imports point at hashed names, so a deploy never mixes versions.
        assert f'from "./{manifest["parley/client.js"].split("/")[-1]}"' in source

        icon = fetch(f"{base}/favicon.ico")
        assert icon.url.endswith(manifest["parley/favicon.svg"])
        assert icon.headers["Content-Type"].startswith("image/svg")
