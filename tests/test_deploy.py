"""deploy/: the Prometheus rules and the Grafana dashboard are valid and use real metrics."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.test import Client

from chatsite import metrics
from messaging import partitions
from tests.conftest import tool_missing

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "parley-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "parley-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "parley-dashboard.json"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
METRIC = re.compile(r"\b((?:parley|django)_[a-z0-9_]+)\b")
RECORDED = re.compile(r"\b(parley:[a-z0-9_]+:rate[0-9]+[mhd])\b")
# What Parley and django-prometheus expose (histograms and counters with their suffixes).
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")
# Scraped by Prometheus itself or a blackbox exporter, not by Parley.
EXTERNAL = {"up", "probe_success"}


def exposed_names() -> set[str]:
    names = set()
    # The partitions gauge is collected from the database by the messaging app.
    for collector in [*vars(metrics).values(), partitions.partitions_months_ahead]:
        name = getattr(collector, "_name", None)
        if isinstance(name, str) and name.startswith("parley_"):
            names |= {name + suffix for suffix in SUFFIXES}
    return names


@pytest.fixture(scope="module")
def rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def all_rules(rules: dict) -> list[dict]:
    return [rule for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.django_db
def test_every_metric_the_rules_and_dashboard_use_exists(rules):
    # django-prometheus metrics: what a live /metrics page shows after some traffic.
    client = Client()
    client.get("/api/me/")
    page = client.get("/metrics").content.decode()
    known = exposed_names() | {
        line.split("{")[0].split(" ")[0] for line in page.splitlines() if not line.startswith("#")
    }
    known |= {"django_db_execute_total"}  # appears after the first query of a process
    recorded = {rule["record"] for rule in all_rules(rules) if "record" in rule}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [rule["expr"] for rule in all_rules(rules)] + [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    for expr in expressions:
        for name in METRIC.findall(expr):
            assert name in known, f"{name} in {expr!r} is not a metric Parley exposes"
        for name in RECORDED.findall(expr):
            assert name in recorded, f"{name} is used but not recorded"


def test_rules_are_well_formed(rules):
    names = set()
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["expr"]
            if "record" in rule:
                assert rule["record"] not in names, f"{rule['record']} recorded twice"
                names.add(rule["record"])
                continue
            assert DURATION.match(rule["for"]), rule
            assert rule["labels"]["severity"] in {"page", "ticket"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_each_slo_has_multiwindow_burn_rate_alerts(rules):
    burn = [r for r in all_rules(rules) if "alert" in r and r["alert"].endswith("BudgetBurn")]
    by_slo: dict[str, set] = {}
    for alert in burn:
        labels = alert["labels"]
        long, short = labels["long_window"], labels["short_window"]
        # Both windows must hold: the long one for significance, the short one so the alert
        # stops soon after the burn does.
        assert f"rate{long} >" in alert["expr"] and f"rate{short} >" in alert["expr"], alert
        assert "\nand\n" in alert["expr"]
        by_slo.setdefault(labels["slo"], set()).add((labels["severity"], long, short))
    assert by_slo.keys() == {"ack", "gateway", "api"}
    for windows in by_slo.values():
        assert windows == {
            ("page", "1h", "5m"),
            ("page", "6h", "30m"),
            ("ticket", "1d", "2h"),
            ("ticket", "3d", "6h"),
        }


def test_the_dashboard_shows_what_operators_need():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "Parley"
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for needed in (
        "connections",
        "message rate",
        "ack latency",
        "fan-out latency",
        "error",
        "push",
    ):
        assert needed in titles, needed
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"])
    latency = [p for p in dashboard["panels"] if "latency" in p["title"].lower()]
    for panel in latency:
        assert {t["legendFormat"] for t in panel["targets"]} == {"p50", "p95", "p99"}


PROMTOOL = shutil.which("promtool") or "promtool"  # missing: FileNotFoundError names it


@pytest.mark.skipif(
    tool_missing("promtool"), reason="promtool not installed (Debian: apt-get install prometheus)"
)
def test_promtool_checks_and_unit_tests_the_rules():
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


NGINX = DEPLOY / "nginx" / "parley.conf"


def nginx_location(path: str) -> dict[str, str]:
    """The directives of one `location` block of the sample nginx config (name -> value)."""
    block = re.search(r"location " + re.escape(path) + r" \{(.*?)\n    \}", NGINX.read_text(), re.S)
    assert block, f"no location {path}"
    directives = {}
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip().rstrip(";")
        if line:
            name, _, value = line.partition(" ")
            directives.setdefault(name, "")
            directives[name] += value.strip() + "\n"
    return directives


def test_the_nginx_sample_passes_websocket_upgrades_to_the_socket_path(settings):
    ws = nginx_location("/ws/")
    assert ws["proxy_pass"].strip() == "http://parley"
    assert "Upgrade $http_upgrade" in " ".join(ws["proxy_set_header"].split())
    assert "Connection $connection_upgrade" in " ".join(ws["proxy_set_header"].split())
    assert "map $http_upgrade $connection_upgrade" in NGINX.read_text()


def test_the_nginx_sample_never_cuts_a_socket_parley_keeps(settings):
    # nginx ends an open socket after these idle seconds: they must exceed the daphne ping
    # interval documented in docs/operations.md (20 s), the client heartbeat and the server's
    # heartbeat watchdog, or a quiet but healthy socket would be cut.
    ws = nginx_location("/ws/")
    watchdog = settings.PARLEY_HEARTBEAT_INTERVAL * settings.PARLEY_HEARTBEAT_TIMEOUT_FACTOR
    operations = (DEPLOY.parent / "docs" / "operations.md").read_text()
    assert "--ping-interval 20" in operations
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        seconds = int(ws[directive].strip().removesuffix("s"))
        assert seconds > max(20, settings.PARLEY_HEARTBEAT_INTERVAL, watchdog), directive
        assert f"{directive} {seconds}s;" in operations


ROOT = DEPLOY.parent
# daphne's own default for --websocket_timeout (daphne/cli.py).
DAPHNE_WEBSOCKET_TIMEOUT = 86400


def documented_daphne_commands() -> list[str]:
    """Every `daphne ... chatsite.asgi:application` command line of the docs and deploy/
    (continuation lines joined)."""
    commands = []
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    sources += [p for p in sorted(DEPLOY.rglob("*")) if p.is_file() and p.suffix != ".json"]
    for source in sources:
        text = source.read_text().replace("\\\n", " ")
        commands += [line for line in text.splitlines() if re.search(r"\bdaphne\b.*asgi:", line)]
    return commands


def test_documented_daphne_commands_close_sockets_before_the_group_memberships_expire(settings):
    """--websocket_timeout never exceeds CHANNEL_GROUP_EXPIRY (docs/operations.md)."""
    commands = documented_daphne_commands()
    assert len(commands) >= 3, commands
    for command in commands:
        found = re.findall(r"--websocket[_-]timeout[ =](-?\d+)", command)
        timeout = int(found[-1]) if found else DAPHNE_WEBSOCKET_TIMEOUT
        assert 0 <= timeout <= settings.CHANNEL_GROUP_EXPIRY, command
    table = (ROOT / "docs" / "operations.md").read_text()
    assert f"| `CHANNEL_GROUP_EXPIRY` | `{settings.CHANNEL_GROUP_EXPIRY}` |" in table
    layer = settings.CHANNEL_LAYERS["default"]
    assert layer["CONFIG"]["group_expiry"] == settings.CHANNEL_GROUP_EXPIRY
