"""Tools the ZooKeeper tests share: a TCP proxy that can cut ZooKeeper off, a private ZooKeeper
server, and waiting on a condition with a deadline (never sleep-and-hope)."""

from __future__ import annotations

import os
import queue
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Debian's zookeeper package (DESIGN.md); the jar's manifest names its dependencies.
# ZOOKEEPER_CLASSPATH overrides it, as in kazoo's own test harness.
ZK_CLASSPATH = os.environ.get(
    "ZOOKEEPER_CLASSPATH", "/usr/share/java/zookeeper.jar:/etc/zookeeper/conf"
)

# Tests that write protected nodes (switches, breaker overrides) hold this admin digest.
ADMIN_DIGEST = "admin:correct-horse-battery"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Poll every 2 ms until ``condition()`` is truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.002)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forwards 127.0.0.1:port to ``target``; ``cut()`` drops every connection and refuses new
    ones (a network partition), ``restore()`` listens again on the same port; ``hold()`` keeps
    the connections but stops forwarding until ``release()`` (a server too busy to answer)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self.restore()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self._flowing.set()
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stopped.set()
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=0.5):
                    if key.fileobj is b:  # the server's answers wait while held
                        self._flowing.wait()
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            a.close()
            b.close()


class PrivateZooKeeper:
    """A ZooKeeper server of the test's own on a free port, which the test may stop and start."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        (workdir / "zoo.cfg").write_text(
            f"tickTime=500\ndataDir={workdir / 'data'}\nclientPort={self.port}\n"
            "admin.enableServer=false\nminSessionTimeout=1000\n4lw.commands.whitelist=srvr\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        java = shutil.which("java")
        if java is None or not Path(ZK_CLASSPATH.split(":")[0]).exists():
            raise RuntimeError(
                "a private ZooKeeper needs java and the zookeeper jar "
                f"({ZK_CLASSPATH}); run bash scripts/services.sh or set ZOOKEEPER_CLASSPATH"
            )
        log = open(self.workdir / "zookeeper.log", "ab")  # noqa: SIM115 - closed with the process
        self._proc = subprocess.Popen(
            [
                java,
                "-cp",
                ZK_CLASSPATH,
                f"-Dzookeeper.log.dir={self.workdir}",
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(self.workdir / "zoo.cfg"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        wait_until(self._answers, timeout=30, what=f"private ZooKeeper on {self.hosts}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=15)
            self._proc = None
        wait_until(lambda: not self._answers(), timeout=10, what="private ZooKeeper to stop")

    def _answers(self) -> bool:
        """True once the server serves sessions (its port opens well before that)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"srvr")
                reply = b"".join(iter(lambda: s.recv(4096), b""))
            return b"Mode:" in reply
        except OSError:
            return False


def subprocess_env(hosts: str, root: str, **extra: str) -> dict[str, str]:
    """Environment for ``python -m workerkit`` and worker subprocesses of one test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKERKIT_")}
    env.update(WORKERKIT_ZOOKEEPER_HOSTS=hosts, WORKERKIT_ZOOKEEPER_ROOT=root, **extra)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


class WorkerProcess:
    """A worker subprocess whose output lines are read with a deadline, never blocking forever.

    Closing its stdin (:meth:`finish`) is the stand-in workers' signal to stop.
    """

    def __init__(self, script: str, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, *args],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def line(self, timeout: float = 5.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker printed nothing within {timeout} s") from None

    def finish(self) -> None:
        self.proc.communicate("", timeout=10)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m workerkit ARGS`` in a real process, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "workerkit", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=30,
    )


def node_mtime(hosts: str, path: str) -> float:
    """When ZooKeeper last wrote ``path`` (wall seconds, millisecond resolution)."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts)
    client.start(timeout=10)
    try:
        return float(client.exists(path).mtime / 1000)
    finally:
        client.stop()
        client.close()


def report_latencies(what: str, latencies: list[float], limit: float = 1.0) -> str:
    """Check every write->worker latency is under ``limit`` s, and describe them for the log.

    ZooKeeper's mtime has millisecond resolution, so a latency may read up to 2 ms negative.
    """
    assert all(-0.002 <= lat < limit for lat in latencies), latencies
    return (
        f"{what} over {len(latencies)} deliveries: "
        f"median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )
