"""A real ``voice serve`` on loopback and the clients that used to starve it.

``ServeProcess`` runs the ``voice serve`` command (gunicorn, the guarded
worker) in a subprocess on 127.0.0.1 with its own SQLite file.  The attackers
are real sockets: ``SlowHeaders`` trickles a request head one byte every few
seconds and reconnects when it is cut off; ``IdleWebSockets`` opens signed
Media Streams that send ``connected`` and marks but never ``start`` (and
reconnects too); ``EventStreams`` opens ``/events`` streams with one login.
Shared by ``tests/test_serving.py`` and ``benchmarks/slow_clients.py``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import websocket
from conftest import CSRF_META
from twilio_helpers import TOKEN, stream_headers, wait_for

from voice.tools.frames import FrameBuilder

VENV_BIN = Path(sys.executable).parent
PASSWORD = "loopback-only-Passphrase-7"
# websocket-client logs every close frame the server sends as an error; hundreds are expected
logging.getLogger("websocket").setLevel(logging.CRITICAL)


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``voice serve`` in a subprocess; ``url`` once ``/healthz`` answers."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = workdir / "serve.db"
        self.log_path = workdir / "serve.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "VOICE_PUBLIC_URL": "https://coach.example.com",
            "VOICE_DESK_NUMBER": "+15550100",
            "VOICE_SECRET_KEY": "serve-test-secret",
            "VOICE_LOAD_SPEECH_MODEL": "0",
            "VOICE_LOAD_SENTIMENT_MODEL": "0",
            "VOICE_USER_PASSWORD": PASSWORD,
            **(env or {}),
        }
        if "REDIS_URL" not in (env or {}):
            self.env.pop("REDIS_URL", None)
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def voice(self, *args: str) -> str:
        """Run another ``voice`` command against the same database."""
        done = subprocess.run([str(VENV_BIN / "voice"), *args], env=self.env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"voice {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def __enter__(self) -> ServeProcess:
        self.voice("db", "upgrade")
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "voice"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voice serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code in (200, 503):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("voice serve did not answer /healthz")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """``kill -9`` the instance: gunicorn's master and its workers, nothing said first."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        workers = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        self.proc.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def log(self) -> str:
        """What the server has logged so far."""
        return self.log_path.read_text(errors="replace")


def login_session(url: str, username: str, password: str = PASSWORD) -> requests.Session:
    """A logged-in ``requests`` session (the login form's CSRF token sent along).

    The server is told its public URL is https, so its cookies are ``Secure``, and
    ``requests`` would not send them over loopback http: the session keeps them in
    its ``Cookie`` header itself, as a browser behind the https proxy would.
    """
    session = requests.Session()
    jar: dict[str, str] = {}

    def keep(response: requests.Response) -> requests.Response:
        jar.update(response.cookies.get_dict())
        session.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        return response

    page = keep(session.get(url + "/login", timeout=10)).text
    form = {"username": username, "password": password}
    match = CSRF_META.search(page)
    if match:
        form["csrf_token"] = match.group(1) or match.group(2)
    response = keep(session.post(url + "/login", data=form, timeout=10, allow_redirects=False))
    if response.status_code not in (302, 303):
        raise RuntimeError(f"login failed: {response.status_code}")
    session.cookies.clear()
    return session


class _Attackers:
    """Threads that keep ``n`` hostile connections open until ``stop``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def start(self) -> _Attackers:
        for i in range(self.n):
            thread = threading.Thread(target=self._loop, args=(i,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _loop(self, i: int) -> None:
        while not self.stopping.is_set():
            try:
                self.attack(i)
            except (OSError, websocket.WebSocketException):
                self.count("cut_off")
                self.stopping.wait(0.2)

    def attack(self, i: int) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)


class SlowHeaders(_Attackers):
    """Request heads sent one byte every ``every_s``; each reconnects once cut off."""

    HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 400

    def __init__(self, port: int, n: int, every_s: float = 3.0) -> None:
        super().__init__(n)
        self.port, self.every_s = port, every_s

    def attack(self, i: int) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            self.count("opened")
            for byte in self.HEAD:
                sock.send(bytes([byte]))
                if self.stopping.wait(self.every_s):
                    return
                sock.setblocking(False)
                try:
                    if sock.recv(1, socket.MSG_PEEK) is not None:
                        self.count("answered")  # the server gave up on us (408)
                        return
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)


class IdleWebSockets(_Attackers):
    """Signed Media Streams that never ``start`` (a mark now and then); they reconnect."""

    def __init__(self, url: str, n: int, mark_every_s: float = 0.5) -> None:
        super().__init__(n)
        self.ws_url = url.replace("http://", "ws://") + "/twilio/stream"
        self.mark_every_s = mark_every_s

    def attack(self, i: int) -> None:
        ws = websocket.create_connection(self.ws_url, header=stream_headers(), timeout=30)
        self.count("opened")
        builder = FrameBuilder(f"CA{i:032x}")
        try:
            ws.send(builder.connected())
            while not self.stopping.wait(self.mark_every_s):
                ws.send(builder.mark("idle"))
        finally:
            ws.close()


class EventStreams(_Attackers):
    """``/events`` streams opened with one login's cookie (kept open once accepted)."""

    def __init__(self, url: str, session: requests.Session, n: int) -> None:
        super().__init__(n)
        self.url, self.session = url, session
        self.statuses: Counter[int] = Counter()

    def attack(self, i: int) -> None:
        with requests.get(self.url + "/events", headers=dict(self.session.headers),
                          stream=True, timeout=30) as response:
            with self._lock:
                self.statuses[response.status_code] += 1
            if response.status_code != 200:
                self.stopping.wait()  # refused: stay refused, do not hammer
                return
            for _ in response.iter_content(chunk_size=None):
                if self.stopping.is_set():
                    return


def timed_get(url: str, timeout: float = 10.0) -> tuple[int, float]:
    """``(status, seconds)`` of one GET on a fresh connection; status 0 on failure."""
    began = time.perf_counter()
    try:
        status = requests.get(url, timeout=timeout, headers={"Connection": "close"}).status_code
    except requests.RequestException:
        status = 0
    return status, time.perf_counter() - began


class HostileClients:
    """The three attacker groups at once against one server (a context manager).

    ``HostileClients(server, session, slow=100, idle=200, sse=70)`` starts them on
    entry and stops them on exit; ``held()`` waits until every idle WebSocket is
    open and every ``/events`` stream has been answered.  Used alike by
    ``tests/test_serving.py`` and ``benchmarks/slow_clients.py``.
    """

    def __init__(self, server: ServeProcess, session: requests.Session, slow: int = 100,
                 idle: int = 200, sse: int = 70) -> None:
        self.wanted = {"slow": slow, "idle": idle, "sse": sse}
        self.slow = SlowHeaders(server.port, slow)
        self.idle = IdleWebSockets(server.url, idle)
        self.greedy = EventStreams(server.url, session, sse)

    def __enter__(self) -> HostileClients:
        for group in (self.slow, self.idle, self.greedy):
            group.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for group in (self.slow, self.idle, self.greedy):
            group.stop()

    def held(self, timeout: float = 60.0) -> bool:
        """Whether every idle WebSocket opened and every ``/events`` stream was answered."""
        return wait_for(lambda: self.idle.counts["opened"] >= self.wanted["idle"]
                        and sum(self.greedy.statuses.values()) >= self.wanted["sse"], timeout)
