"""Serving: the gunicorn worker that slow or idle clients cannot starve, and its settings.

The service stays on gunicorn's thread worker (decoding and scoring already
run on real OS threads; Vosk and torch release the GIL), and
``GuardedThreadWorker`` removes what let a handful of clients take every
thread:

* a request's head (and a body of announced length) is read by the worker's
  event loop, non-blocking, before any thread is involved; a client that has
  not sent all of it within ``VOICE_HEADER_TIMEOUT_S`` gets ``408`` and is
  closed, a head over 64 KiB gets ``431`` and a body over
  ``VOICE_MAX_REQUEST_BYTES`` gets ``413`` -- so trickling headers costs a
  socket, never a thread;
* long-lived streams (``/twilio/stream`` WebSockets and ``/events``) run on
  their own pool of ``VOICE_STREAM_THREADS`` threads; when it is full a new
  stream gets ``503`` at once, and ordinary requests (``/healthz``, webhooks,
  pages) keep their own ``--threads`` pool, so streams never queue them;
* at most ``VOICE_MAX_CONNECTIONS`` sockets are open at once.

What a stream may hold is bounded where it is served: a Media Stream that has
not sent ``start`` within ``VOICE_STREAM_START_TIMEOUT_S`` is closed whatever
else it sends (``twilio/media_socket.py``), and one login holds at most
``VOICE_EVENTS_PER_LOGIN`` ``/events`` streams (``console/quota.py``).
"""

from __future__ import annotations

import errno
import json
import selectors
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from voice.config import Config

STREAM_PATHS = frozenset({"/twilio/stream", "/events"})
MAX_HEAD_BYTES = 64 * 1024
WORKER_CLASS = "voice.serving.GuardedThreadWorker"

_STATUS_TEXT = {
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def gunicorn_settings(config: Config, bind: str, threads: int | None = None) -> dict[str, Any]:
    """The gunicorn settings ``voice serve`` and the Procfile (``voice.gunicorn_conf``) run with.

    One worker by default: decoding runs on OS threads that release the GIL, so
    one process uses every core, and the speech model is loaded once.  With
    ``VOICE_WORKERS`` > 1 each worker is an instance of its own (own model, own
    calls, reached over Redis), and ``child_exit`` clears a dead worker's gauges.
    """
    from voice.metrics import worker_exited

    return {
        "bind": bind,
        "workers": config.workers,
        "worker_class": WORKER_CLASS,
        "threads": threads or config.threads,
        "child_exit": lambda _arbiter, worker: worker_exited(worker.pid),
        "worker_connections": config.max_connections,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        # one control socket path per user: several instances on a box would fight over it
        "control_socket_disable": True,
    }


def refusal(status: int, message: str) -> bytes:
    """A complete, closing HTTP/1.1 response with a JSON body."""
    error = _STATUS_TEXT[status].lower().replace(" ", "_")
    body = json.dumps({"error": error, "message": message}).encode()
    head = (f"HTTP/1.1 {status} {_STATUS_TEXT[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


class RequestHead:
    """What the event loop knows about a request it is still reading."""

    def __init__(self, deadline: float, data: bytes = b"") -> None:
        self.deadline = deadline
        self.data = bytearray(data)
        self.path = ""
        self.needed: int | None = None  # head + announced body, once the head is complete

    def feed(self, chunk: bytes, max_body: int) -> int | None:
        """Add bytes; returns an HTTP status to refuse with, 0 when complete, None for more."""
        self.data += chunk
        if self.needed is None:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                return 431 if len(self.data) > MAX_HEAD_BYTES else None
            if end > MAX_HEAD_BYTES:
                return 431
            status = self._parse(bytes(self.data[:end]), end + 4, max_body)
            if status:
                return status
        return 0 if len(self.data) >= (self.needed or 0) else None

    def _parse(self, head: bytes, head_len: int, max_body: int) -> int:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        target = parts[1] if len(parts) >= 2 else b"/"
        self.path = target.split(b"?", 1)[0].decode("latin-1")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = 0  # gunicorn's parser answers 400 for it
        if length > max_body:
            return 413
        self.needed = head_len + max(length, 0)
        return 0

    @property
    def is_stream(self) -> bool:
        """Whether the request opens a long-lived stream."""
        return self.path in STREAM_PATHS


class GuardedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with heads read off-thread and a pool for streams."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = Config.from_env()
        self.header_timeout_s = config.header_timeout_s
        self.max_body = config.max_request_bytes
        self.max_streams = config.stream_threads
        self.stream_pool: futures.ThreadPoolExecutor | None = None
        self.reading: dict[TConn, RequestHead] = {}
        self.streams = 0
        self.refused: dict[int, int] = {}

    def init_process(self) -> None:
        """Start the stream pool next to gunicorn's request pool."""
        self.stream_pool = futures.ThreadPoolExecutor(max_workers=self.max_streams,
                                                      thread_name_prefix="stream")
        super().init_process()

    def run(self) -> None:
        """gunicorn's loop; the stream pool stops with it."""
        try:
            super().run()
        finally:
            if self.stream_pool is not None:
                self.stream_pool.shutdown(wait=False)

    # --- reading heads in the event loop -------------------------------------------------

    def accept(self, listener: Any) -> None:
        """Accept a connection and read its request head without a thread."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        if self.cfg.is_ssl:  # TLS is the proxy's job; gthread's own path still works
            client_sock.setblocking(True)
            self.enqueue_req(conn)
            return
        self._read_head(conn, RequestHead(time.monotonic() + self.header_timeout_s))

    def _read_head(self, conn: TConn, head: RequestHead) -> None:
        conn.sock.setblocking(False)
        self.reading[conn] = head
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, _sock: Any) -> None:
        head = self.reading.get(conn)
        if head is None:
            return
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not chunk:
            self._drop(conn)
            return
        status = head.feed(chunk, self.max_body)
        if status is None:
            return
        if status:
            self._refuse(conn, status, "request head too large" if status == 431
                         else "request body too large")
            return
        self._dispatch(conn, head)

    def _dispatch(self, conn: TConn, head: RequestHead) -> None:
        self._unwatch(conn)
        if head.is_stream and self.streams >= self.max_streams:
            self._refuse(conn, 503, "too many open streams; try again shortly", watched=False)
            return
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(bytes(head.data))
        conn.data_ready = True
        conn.voice_stream = head.is_stream
        self.enqueue_req(conn)

    def _unwatch(self, conn: TConn) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _refuse(self, conn: TConn, status: int, message: str, watched: bool = True) -> None:
        if watched:
            self._unwatch(conn)
        self.refused[status] = self.refused.get(status, 0) + 1
        try:
            conn.sock.send(refusal(status, message))
        except OSError:
            pass
        self._drop(conn, watched=False)

    def _drop(self, conn: TConn, watched: bool = True) -> None:
        if watched:
            self._unwatch(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gunicorn's sweep, plus: close heads that were not complete in time (408)."""
        super().murder_pending()
        now = time.monotonic()
        late = [conn for conn, head in self.reading.items() if head.deadline <= now]
        for conn in late:
            self._refuse(conn, 408, "the request was not sent in time")

    # --- two pools ----------------------------------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        """Streams go to the stream pool, everything else to gunicorn's pool."""
        if getattr(conn, "voice_stream", False) and self.stream_pool is not None:
            self.streams += 1
            fs = self.stream_pool.submit(self.handle, conn)
        else:
            fs = self.tpool.submit(self.handle, conn)
        fs.add_done_callback(
            lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def handle(self, conn: TConn) -> Any:
        """gunicorn's handler; a connection that ends is closed here, on its own thread.

        gunicorn closes it gracefully (lingering up to 2 s for the peer's FIN) in
        ``finish_request``, on the event loop: a few hundred streams closed at once
        froze accepting for seconds.
        """
        result = super().handle(conn)
        if not result:
            conn.close(graceful=True)
            conn.voice_closed = True
        return result

    def finish_request(self, conn: TConn, fs: futures.Future[Any]) -> None:
        """Count the stream out; a kept-alive connection's next head is read off-thread."""
        if getattr(conn, "voice_stream", False):
            self.streams -= 1
            conn.voice_stream = False
        if getattr(conn, "voice_closed", False):
            self.nr_conns -= 1
            return
        result = fs.result() if not fs.cancelled() and fs.exception() is None else False
        if result and self.alive and conn.parser is not None:
            pending = conn.parser.unreader.take_buffered()
            if pending:  # pipelined bytes: finish that head in the loop, not on a thread
                head = RequestHead(time.monotonic() + self.header_timeout_s, b"")
                self._read_head(conn, head)
                status = head.feed(pending, self.max_body)
                if status == 0:
                    self._dispatch(conn, head)
                elif status:
                    self._refuse(conn, status, "bad pipelined request")
                return
        super().finish_request(conn, fs)

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection sent more: read its head in the loop too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_head(conn, RequestHead(time.monotonic() + self.header_timeout_s))
        self._on_readable(conn, client)
