"""Drive Parley (or the tutorial-style baseline) with many simulated clients over loopback.

Examples:
    python -m bench --target parley --scenario fanout --members 1000 --rate 10 --duration 10
    python -m bench --server uvicorn --target parley --scenario fanout --members 1000 --rate 10
    python -m bench --target baseline --scenario pairs --pairs 50 --duration 10
    python -m bench --suite quick --target parley --target baseline --json var/bench/quick.json
    python -m bench --scenario search --messages 1000000   (bench/search.py: no server, in-process)
    python -m bench --scenario pairs --setup api --pairs 250 --duration 15
    python -m bench --scenario herd-announce --users 5000
    python -m bench --scenario herd-add --users 5000 [--add-via members]
    python -m bench --scenario storm --sockets 10000 --window 60   (every socket cut at once)

`--setup db` (the default) writes users, tokens and conversations straight to the database;
`--setup api` makes them through the public API only, as real clients do (bench/public.py):
register and log in over REST, direct chats and groups over REST, `read` frames from receivers.
The herds' trigger always goes through the API (a first announcement; a mass add to a group,
both while every user is connected); their users are registered over REST by default, or, with
`--setup db`, written to the database (5,000 users over REST cost 10,000 password hashes: about
50 minutes of the server's core here).

Servers are started by the tool (daphne, or uvicorn with --server uvicorn, pinned to core 0;
the load generator pins itself to core 1), with the configuration in the environment:
DATABASE_URL/REDIS_URL for PostgreSQL + Redis, none for the embedded default. Everything is
bounded in count and time.
"""

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import scenarios
from .servers import ROOT, SERVERS, spawn

SUITES = {
    "quick": [
        ("idle", {"sockets": 1000, "hold": 5}),
        ("pairs", {"count": 50, "rate": 0, "duration": 10}),
        ("fanout", {"members": 100, "rate": 10, "duration": 10}),
        ("fanout", {"members": 1000, "rate": 10, "duration": 10}),
        ("announce", {"sockets": 1000}),
    ],
    "targets": [
        ("idle", {"sockets": 1000, "hold": 10}),
        ("idle", {"sockets": 5000, "hold": 10}),
        ("idle", {"sockets": 10000, "hold": 30}),
        ("pairs", {"count": 50, "rate": 0, "duration": 15}),
        ("pairs", {"count": 50, "rate": 1000, "duration": 15}),
        ("fanout", {"members": 100, "rate": 10, "duration": 15}),
        ("fanout", {"members": 1000, "rate": 10, "duration": 15}),
        ("announce", {"sockets": 5000}),
    ],
}


def _prepare_process(pin: bool) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if pin and os.cpu_count() and os.cpu_count() >= 2:
        os.sched_setaffinity(0, {1})


def _migrate() -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    # Every simulated client comes from 127.0.0.1: exempt it from the per-IP and per-user rate
    # limits, as an operator would whitelist a load generator. (Fails harmlessly if present.)
    subprocess.run(
        [sys.executable, "manage.py", "whitelist", "add", "127.0.0.1", "--reason", "benchmark"],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )


def run_one(
    target_kind: str,
    scenario: str,
    params: dict,
    *,
    servers: int,
    pin: bool,
    server: str = "daphne",
    connect_concurrency: int = 50,
    rest_concurrency: int = 8,
) -> dict:
    if target_kind == "parley":
        _migrate()
    # Tokens must outlive the run (the servers only check signature and expiry); an API
    # population's access tokens come from the servers, which read this at start-up.
    os.environ.setdefault("JWT_ACCESS_MINUTES", "240")
    with spawn(
        target_kind, count=servers, server_core="0" if pin else "", server=server
    ) as running:
        target = scenarios.Target(
            kind=target_kind,
            ws_urls=[f"ws://127.0.0.1:{port}" for port, _ in running],
            server_pids=[pid for _, pid in running],
            connect_concurrency=connect_concurrency,
            env=dict(os.environ),
            rest_concurrency=rest_concurrency,
        )
        time.sleep(1)  # let the servers settle after start-up before measuring memory
        function = getattr(scenarios, scenario.replace("-", "_"))
        started = time.monotonic()
        result = asyncio.run(function(target, **params))
    return {
        "target": target_kind,
        "scenario": scenario,
        "params": params,
        "servers": servers,
        "server": server,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "configuration": "postgres+redis" if os.environ.get("DATABASE_URL") else "embedded",
        "wall_seconds": round(time.monotonic() - started, 1),
        **result,
    }


def _row(result: dict) -> str:
    keys = [
        "held",
        "kib_per_socket",
        "messages_per_second",
        "deliveries_per_second",
        "lost_live",
        "lost_after_sync",
        "received_live",
        "closed_by_server",
        "heartbeat_closes_4408",
        "recovered_by_sync",
    ]
    parts = [
        f"{result['target']:8} {result['server']:7} {result['scenario']:13} "
        f"{json.dumps(result['params'])}  load={result['load_average_1min']}"
    ]
    parts += [f"{k}={result[k]}" for k in keys if k in result]
    for k in ("ack_latency_ms", "delivery_latency_ms", "since_trigger_ms"):
        if k in result:
            lat = result[k]
            parts.append(f"{k.split('_')[0]} p50/p95/p99={lat['p50']}/{lat['p95']}/{lat['p99']}")
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", action="append", choices=["parley", "baseline"])
    parser.add_argument("--suite", choices=sorted(SUITES))
    parser.add_argument(
        "--scenario",
        choices=[
            "idle",
            "pairs",
            "fanout",
            "announce",
            "herd-announce",
            "herd-add",
            "storm",
            "search",
        ],
    )
    parser.add_argument(
        "--setup",
        choices=["db", "api"],
        default=None,
        help="population written to the database (db, the default of idle/pairs/fanout) or "
        "made through the public API (api, the default of the herds)",
    )
    parser.add_argument("--users", type=int, default=200, help="herds: connected users")
    parser.add_argument(
        "--window",
        type=float,
        default=30,
        help="herds: seconds to wait for live delivery; storm: for every socket to be back",
    )
    parser.add_argument(
        "--add-via",
        choices=["create", "members"],
        default="create",
        help="herd-add: one POST /api/groups/ with the members, or one POST per member",
    )
    parser.add_argument(
        "--no-reads",
        action="store_true",
        help="pairs --setup api: receivers send no `read` frames",
    )
    parser.add_argument(
        "--rest-concurrency", type=int, default=8, help="--setup api: REST calls in flight"
    )
    parser.add_argument(
        "--messages", type=int, default=None, help="search: messages to generate (bench/search.py)"
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=5)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10, help="messages/s; pairs: 0 = closed loop")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--servers", type=int, default=1, help="server processes to start")
    parser.add_argument(
        "--server", choices=SERVERS, default="daphne", help="ASGI server to run (default daphne)"
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="handshakes in flight at once"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/generator cores")
    parser.add_argument(
        "--baseline-pool",
        type=int,
        default=0,
        help="size the baseline's Redis pool (default: the tutorial's plain URL, capped at 100)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    if args.scenario == "search":
        from . import search

        extra = ["--messages", str(args.messages)] if args.messages else []
        return search.main(extra + (["--json", str(args.json)] if args.json else []))
    if args.suite:
        plan = SUITES[args.suite]
    elif args.scenario:
        params = {
            "idle": {"sockets": args.sockets, "hold": args.hold},
            "pairs": {"count": args.pairs, "rate": args.rate, "duration": args.duration},
            "fanout": {"members": args.members, "rate": args.rate, "duration": args.duration},
            "announce": {"sockets": args.sockets},
            "herd-announce": {"users": args.users, "window": args.window},
            "herd-add": {"users": args.users, "window": args.window, "add_via": args.add_via},
            "storm": {"sockets": args.sockets, "window": args.window},
        }[args.scenario]
        if args.setup is not None:
            if args.scenario == "announce":
                parser.error("--setup does not apply to announce (see herd-announce)")
            params["setup"] = args.setup
            if args.scenario == "pairs" and args.setup == "api" and args.no_reads:
                params["reads"] = False
        plan = [(args.scenario, params)]
    else:
        parser.error("give --suite or --scenario")
    targets = args.target or ["parley"]
    _prepare_process(pin=not args.no_pin)
    if args.baseline_pool:
        os.environ["BASELINE_REDIS_MAX_CONNECTIONS"] = str(args.baseline_pool)

    results = []
    for scenario, params in plan:
        for target in targets:
            result = run_one(
                target,
                scenario,
                params,
                servers=args.servers,
                pin=not args.no_pin,
                server=args.server,
                connect_concurrency=args.connect_concurrency,
                rest_concurrency=args.rest_concurrency,
            )
            if target == "baseline":
                result["baseline_redis_pool"] = args.baseline_pool or "plain URL (100)"
            results.append(result)
            print(_row(result), flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
