"""deploy/ha/: the reference topology's files say what docs/operations.md says of them."""

import configparser
from pathlib import Path

import yaml

HA = Path(__file__).resolve().parent.parent / "deploy" / "ha"


def documents() -> dict[tuple[str, str], dict]:
    text = (HA / "kubernetes" / "parley.yaml").read_text()
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text)}


def test_kubernetes_servers_are_ready_on_readyz_drain_before_sigterm_and_have_a_budget():
    docs = documents()
    server = docs[("Deployment", "parley-server")]["spec"]
    (container,) = server["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert server["template"]["spec"]["terminationGracePeriodSeconds"] > 5 + 5
    assert server["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert docs[("PodDisruptionBudget", "parley-server")]["spec"]["maxUnavailable"] == 1
    assert docs[("Deployment", "parley-beat")]["spec"]["replicas"] == 1
    assert docs[("Deployment", "parley-beat")]["spec"]["strategy"]["type"] == "Recreate"
    assert docs[("ConfigMap", "parley")]["data"]["DATABASE_PGBOUNCER"] == "1"


def test_pgbouncer_pools_transactions_and_gives_up_waiting_quickly():
    config = configparser.ConfigParser(inline_comment_prefixes=(";",))
    config.read(HA / "postgresql" / "pgbouncer.ini")
    assert config["pgbouncer"]["pool_mode"] == "transaction"
    assert int(config["pgbouncer"]["query_wait_timeout"]) <= 10
    assert int(config["pgbouncer"]["server_login_retry"]) <= 2


def test_three_sentinels_need_two_to_agree():
    lines = (HA / "redis" / "sentinel.conf").read_text().splitlines()
    (monitor,) = [line for line in lines if line.startswith("sentinel monitor parley ")]
    assert monitor.split()[-1] == "2"


def test_nginx_spreads_over_several_machines():
    text = (HA / "nginx" / "parley-ha.conf").read_text()
    machines = {line.split()[1].split(":")[0] for line in text.splitlines() if "server 10." in line}
    assert len(machines) >= 3
