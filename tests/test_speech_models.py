"""Fetching a speech model (offline, against a loopback HTTP server) and choosing one."""

import hashlib
import http.server
import io
import json
import os
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from voice.speech_models import (
    DEFAULT_MODEL,
    KNOWN_ARCHIVES,
    ModelFetchError,
    describe_missing_model,
    fetch_model,
    is_model_dir,
    model_url,
    resolve_speech_model,
)

NAME = "vosk-model-tiny-test-0.1"


def model_zip(name: str = NAME, with_root: bool = True) -> bytes:
    """A zip shaped like a Vosk model archive (folder with am/, conf/)."""
    prefix = f"{name}/" if with_root else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{prefix}am/final.mdl", b"not really a model")
        zf.writestr(f"{prefix}conf/model.conf", "--endpoint.rule2.min-trailing-silence=0.5\n")
        zf.writestr(f"{prefix}README", "tiny")
    return buf.getvalue()


@pytest.fixture
def server():
    """A loopback HTTP server; ``files`` maps URL paths to bytes."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.files = files
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_fetch_unpacks_and_records_checksum(server, tmp_path):
    blob = model_zip()
    server.files["/m.zip"] = blob
    digest = hashlib.sha256(blob).hexdigest()
    path = fetch_model(NAME, dest=tmp_path, url=server.url + "/m.zip", sha256=digest,
                       progress=False)
    assert path == tmp_path / NAME and is_model_dir(path)
    assert (path / "README").read_text() == "tiny"
    record = json.loads((path / "fetched.json").read_text())
    assert record["sha256"] == digest and record["size"] == len(blob) and record["verified"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no temp files left


def test_fetch_reads_a_checksum_file_and_accepts_rootless_zip(server, tmp_path):
    blob = model_zip(with_root=False)
    server.files["/m.zip"] = blob
    sums = tmp_path / "m.zip.sha256"
    sums.write_text(f"{hashlib.sha256(blob).hexdigest()}  m.zip\n")
    path = fetch_model(NAME, dest=tmp_path / "models", url=server.url + "/m.zip",
                       sha256=sums, progress=False)
    assert is_model_dir(path)


def test_fetch_without_checksum_records_the_computed_one(server, tmp_path):
    blob = model_zip()
    server.files["/m.zip"] = blob
    path = fetch_model(NAME, dest=tmp_path, url=server.url + "/m.zip", progress=False)
    record = json.loads((path / "fetched.json").read_text())
    assert record["sha256"] == hashlib.sha256(blob).hexdigest() and not record["verified"]


def test_fetch_is_idempotent(server, tmp_path):
    server.files["/m.zip"] = model_zip()
    first = fetch_model(NAME, dest=tmp_path, url=server.url + "/m.zip", progress=False)
    server.files.clear()  # a second fetch must not download again
    assert fetch_model(NAME, dest=tmp_path, url=server.url + "/m.zip", progress=False) == first


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files["/m.zip"] = model_zip()
    with pytest.raises(ModelFetchError, match="SHA-256 mismatch") as err:
        fetch_model(NAME, dest=tmp_path, url=server.url + "/m.zip", sha256="0" * 64,
                    progress=False)
    assert err.value.url == server.url + "/m.zip"
    assert list(tmp_path.iterdir()) == []


def test_known_model_size_is_checked(server, tmp_path):
    server.files["/en.zip"] = model_zip(DEFAULT_MODEL)
    with pytest.raises(ModelFetchError, match="size mismatch"):
        fetch_model(DEFAULT_MODEL, dest=tmp_path, url=server.url + "/en.zip", progress=False)
    assert not (tmp_path / DEFAULT_MODEL).exists()


def test_http_error_and_bad_zip(server, tmp_path):
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        fetch_model(NAME, dest=tmp_path, url=server.url + "/missing.zip", progress=False)
    server.files["/bad.zip"] = b"this is not a zip"
    with pytest.raises(ModelFetchError, match="not a valid zip"):
        fetch_model(NAME, dest=tmp_path, url=server.url + "/bad.zip", progress=False)
    assert not (tmp_path / NAME).exists()


def test_unsafe_archive_is_refused(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.txt", "x")
    server.files["/evil.zip"] = buf.getvalue()
    with pytest.raises(ModelFetchError, match="unsafe path"):
        fetch_model(NAME, dest=tmp_path / "models", url=server.url + "/evil.zip",
                    progress=False)
    assert not (tmp_path / "evil.txt").exists()


def test_unreachable_host_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{NAME}.zip"
    with pytest.raises(ModelFetchError, match="unreachable") as err:
        fetch_model(NAME, dest=tmp_path, url=url, progress=False, timeout=5)
    assert url in str(err.value)


def test_default_url_and_known_checksum():
    assert model_url(DEFAULT_MODEL) == (
        "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip")
    assert len(KNOWN_ARCHIVES[DEFAULT_MODEL].sha256) == 64


def _fake_model(path: Path, mtime: float) -> Path:
    (path / "am").mkdir(parents=True)
    os.utime(path, (mtime, mtime))
    return path


def test_resolve_prefers_env_then_newest(tmp_path):
    models = tmp_path / "models"
    old = _fake_model(models / "vosk-model-a", time.time() - 100)
    new = _fake_model(models / "vosk-model-b", time.time())
    (models / "notes").mkdir()
    _fake_model(models / ".vosk-model-c.tmp", time.time() + 100)
    assert resolve_speech_model(None, models) == new
    assert resolve_speech_model(str(old), models) == old
    assert resolve_speech_model(None, tmp_path / "nowhere") is None
    assert resolve_speech_model("", models / "notes") is None


def test_resolve_rejects_a_bad_env_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="VOSK_MODEL_PATH"):
        resolve_speech_model(str(tmp_path / "missing"), tmp_path)


def test_describe_missing_model_says_how():
    text = describe_missing_model()
    assert "voice models fetch" in text and "VOSK_MODEL_PATH" in text
