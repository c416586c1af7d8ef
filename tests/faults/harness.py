"""The components the fault suite kills and restarts, all on loopback and all its own: daphne
processes, private redis-servers and a TCP proxy in front of PostgreSQL that it can cut.

Nothing here touches the shared PostgreSQL or Redis: the proxy only forwards to PostgreSQL,
and cutting it closes the proxy's own sockets.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import psycopg
import redis

from tests.servers import ROOT, free_port, stop_process


class DaphneServer:
    """One daphne process on a fixed port, which the test may kill -9, terminate and restart
    on the same port. Its output goes to a log file (printed when a scenario fails)."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, name: str) -> None:
        self.env = env
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"daphne-{name}.log"
        self.process: subprocess.Popen | None = None
        self._log: IO | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, timeout: float = 60.0) -> float:
        """Starts the process; returns the seconds until it answered HTTP."""
        started = time.monotonic()
        self._log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)),
                "chatsite.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne {self.name} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.http}/healthz", timeout=2):  # noqa: S310
                    return time.monotonic() - started
            except OSError:
                if time.monotonic() - started > timeout:
                    raise RuntimeError(
                        f"daphne {self.name} did not start:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def log_count(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except FileNotFoundError:
            return 0

    def readyz(self) -> tuple[int, dict]:
        """(status, body) of /readyz; (0, {}) when the process does not answer."""
        try:
            with urllib.request.urlopen(f"{self.http}/readyz", timeout=5) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            with contextlib.suppress(ValueError):
                return error.code, json.loads(error.read() or b"{}")
            return error.code, {}
        except OSError:
            return 0, {}


class RedisInstance:
    """A private redis-server on its own port; kill() and start() again keep the port."""

    def __init__(self, directory: Path, *, replica_of: int | None = None) -> None:
        self.port = free_port()
        self.directory = directory
        self.replica_of = replica_of  # the primary's port, for a replica
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(shutil.which("redis-server") or "redis-server", "--port", str(self.port)),
                *("--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--maxclients", "10000", "--dir", str(self.directory)),
                *(("--replicaof", "127.0.0.1", str(self.replica_of)) if self.replica_of else ()),
                *("--dbfilename", f"dump-{self.port}.rdb"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: everything in flight and in memory is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def role(self) -> str:
        with self.client() as client:
            return client.info("replication")["role"]

    def connected_clients(self) -> int:
        with self.client() as client:
            return int(client.info("clients")["connected_clients"]) - 1  # not this one

    def keys(self, pattern: str) -> list[bytes]:
        with self.client() as client:
            return list(client.scan_iter(pattern, count=1000))


class SentinelSet:
    """Debian's redis-sentinel, `count` of them, watching one primary as `master_name` with
    short timeouts (down after 1 s, quorum 2): each on its own port and config file."""

    def __init__(
        self, directory: Path, primary_port: int, *, count: int = 3, master_name: str = "mymaster"
    ) -> None:
        self.directory = directory
        self.primary_port = primary_port
        self.master_name = master_name
        self.down_after_ms = 1000
        self.failover_timeout_ms = 5000
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen] = []

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{self.master_name}/{db}"

    def start(self) -> "SentinelSet":
        binary = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
        for port in self.ports:
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {self.directory}\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.master_name} 1\n"
            )
            self.processes.append(
                subprocess.Popen(
                    [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        deadline = time.monotonic() + 15
        while not all(self._sees_primary(port) for port in self.ports):
            if time.monotonic() > deadline:
                raise RuntimeError("the sentinels did not come up")
            time.sleep(0.1)
        return self

    def _sees_primary(self, port: int) -> bool:
        with (
            contextlib.suppress(redis.RedisError),
            redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client,
        ):
            return client.sentinel_get_master_addr_by_name(self.master_name) is not None
        return False

    def primary_port_now(self) -> int | None:
        """The primary's port as the majority of the sentinels see it."""
        seen: list[int] = []
        for port in self.ports:
            with (
                contextlib.suppress(redis.RedisError),
                redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client,
            ):
                address = client.sentinel_get_master_addr_by_name(self.master_name)
                if address:
                    seen.append(int(address[1]))
        for candidate in set(seen):
            if seen.count(candidate) * 2 > len(self.ports):
                return candidate
        return None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


class TcpProxy:
    """A loopback TCP proxy (its own thread and event loop) that can be cut: `cut()` stops
    listening and drops every connection, as a stopped database would; `restore()` listens on
    the same port again."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.BaseTransport] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.accepted = 0

    def start(self) -> "TcpProxy":
        self.thread.start()
        self.restore()
        return self

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self.transports.update(pair)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.transports.difference_update(pair)


class Database:
    """Plain psycopg reads of the test database (no Django connection crosses threads)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def messages(self, conversation: int) -> list[tuple[int, str, str | None]]:
        """(seq, id as string, client_msg_id) of every stored message, in seq order."""
        return [
            (seq, str(pk), client_msg_id)
            for seq, pk, client_msg_id in self.rows(
                "SELECT seq, id, client_msg_id FROM messaging_message"
                " WHERE conversation_id = %s ORDER BY seq",
                (conversation,),
            )
        ]

    def last_seqs(self, conversations: list[int]) -> dict[int, int]:
        rows = self.rows(
            "SELECT conversation_id, coalesce(max(seq), 0) FROM messaging_message"
            " WHERE conversation_id = ANY(%s) GROUP BY conversation_id",
            (conversations,),
        )
        found = dict(rows)
        return {c: found.get(c, 0) for c in conversations}

    def backends(self, database: str) -> int:
        """Connections to the test database, this one excluded."""
        return self.rows(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )[0][0]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary (initdb, pg_ctl, pg_basebackup): Debian keeps them out of PATH."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: p.parts)
    if not candidates:
        raise RuntimeError(f"{name} not found (install PostgreSQL's server package)")
    return str(candidates[-1])


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgresServer:
    """A private PostgreSQL server (its own data directory and port on loopback), started as a
    primary by `init()` or as a streaming replica of another by `replica_of()`. Nothing here
    touches the shared cluster: its data is copied in with pg_dump."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.directory = root / name
        self.log = root / f"{name}.log"
        self.socket_dir = root

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/parley"

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/parley"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres(list(argv)),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )

    def init(self) -> "PostgresServer":
        self._run(
            *(_pg_bin("initdb"), "-D", str(self.directory), "-A", "trust", "-U", "postgres"),
            *("--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"),
        )
        self.start()
        self.execute("CREATE DATABASE parley", database="postgres")
        return self

    def replica_of(self, primary: "PostgresServer") -> "PostgresServer":
        """A hot standby made with pg_basebackup, streaming from `primary` under its name."""
        self._run(
            *(_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port)),
            *("-U", "postgres", "-D", str(self.directory), "-R", "-X", "stream", "-c", "fast"),
        )
        with (self.directory / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"primary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                f"application_name={self.name}'\n"
            )
        self.start()
        return self

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port} -c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.socket_dir}",
                "-c fsync=off -c full_page_writes=off -c wal_level=replica",
                "-c max_wal_senders=5 -c hot_standby=on -c max_connections=200",
            ]
        )
        self._run(
            *(_pg_bin("pg_ctl"), "-D", str(self.directory), "-l", str(self.log)),
            *("-o", options, "-w", "-t", "60", "start"),
            timeout=90,
        )

    def crash(self) -> None:
        """The machine is gone: stop at once, no shutdown checkpoint (pg_ctl -m immediate)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.directory), "-m", "immediate", "stop")

    def stop(self) -> None:
        if (self.directory / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(_pg_bin("pg_ctl"), "-D", str(self.directory), "-m", "fast", "stop")

    def promote(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.directory), "-w", "promote")

    def execute(self, sql: str, params: tuple = (), *, database: str = "parley") -> list[tuple]:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{database}", autocommit=True
        ) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def load(self, source_url: str) -> None:
        """Copies a database (schema and rows) from `source_url` into this server's `parley`."""
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", "-d", source_url],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.dsn],
            input=dump.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )


class PostgresPair:
    """A private primary with one synchronous streaming replica: a commit returns only once the
    replica has the WAL on disk, so promoting the replica loses nothing that was acked."""

    def __init__(self) -> None:
        # Its own directory outside pytest's (which only root may enter), given to postgres.
        self.root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.primary = PostgresServer(self.root, "primary")
        self.replica = PostgresServer(self.root, "replica")

    def start(self, source_url: str) -> "PostgresPair":
        self.primary.init()
        self.primary.load(source_url)
        self.replica.replica_of(self.primary)
        self.primary.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{self.replica.name}'")
        self.primary.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while self.primary.execute(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
            (self.replica.name,),
        ) != [("sync",)]:
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not become synchronous")
            time.sleep(0.1)
        return self

    def caught_up(self) -> bool:
        (lsn,) = self.primary.execute("SELECT pg_current_wal_lsn()::text")[0]
        return self.replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)) == [
            (True,)
        ]

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PgBouncer:
    """Debian's pgbouncer on its own port in transaction pooling mode, in front of one
    PostgreSQL server; `retarget(port)` rewrites its config and RELOADs it, as a failover
    script (or Patroni's callback) does."""

    def __init__(self, root: Path, target_port: int, *, pool_size: int = 20) -> None:
        self.root = root
        self.port = free_port()
        self.target_port = target_port
        self.pool_size = pool_size
        self.config = root / "pgbouncer.ini"
        self.log = root / "pgbouncer.log"
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> None:
        users = self.root / "userlist.txt"
        users.write_text('"postgres" ""\n')
        self.config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.target_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {users}\n"
            f"logfile = {self.log}\nadmin_users = postgres\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 1000\n"
            # Parley's settings for a failover (docs/operations.md, "PgBouncer"): a client waits
            # at most 5 s for a server (then its request fails: `unavailable`), and a failed
            # login to the database is retried after 1 s, not 15.
            "query_wait_timeout = 5\nserver_connect_timeout = 3\nserver_login_retry = 1\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )

    def start(self) -> "PgBouncer":
        self._write_config()
        if os.geteuid() == 0:
            for path in (self.config, self.root / "userlist.txt"):
                shutil.chown(path, "postgres", "postgres")
            with contextlib.suppress(FileNotFoundError):
                shutil.chown(self.log, "postgres", "postgres")
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        # As root, pgbouncer's own -u drops to postgres (this Popen is then pgbouncer itself).
        user = ["-u", "postgres"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [binary, *user, str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return self

    def admin(self, command: str) -> None:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/pgbouncer", autocommit=True
        ) as connection:
            # The admin console speaks only the simple query protocol.
            result = connection.pgconn.exec_(command.encode())
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                raise RuntimeError(f"pgbouncer {command}: {result.error_message.decode()}")

    def retarget(self, port: int) -> None:
        self.target_port = port
        self._write_config()
        self.admin("RELOAD")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
