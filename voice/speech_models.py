"""Speech-model files: fetching a Vosk model, finding the one to use, explaining a missing one.

Owns the logic behind ``voice models fetch`` (download with a progress bar,
size and SHA-256 check, atomic unpack into ``models/``), the choice of model
folder at start-up (``VOSK_MODEL_PATH`` else the newest folder under
``models/``), and the message shown when there is none.  No CLI and no
Flask here; ``cli.py`` and ``/healthz`` call these functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm

log = logging.getLogger(__name__)

DEFAULT_MODEL = "vosk-model-small-en-us-0.15"
MODEL_SITE = "https://alphacephei.com/vosk/models"
FETCH_RECORD = "fetched.json"


@dataclass(frozen=True)
class KnownArchive:
    """The published size and SHA-256 of a model zip."""

    size: int
    sha256: str


# The small English model's zip as published on the Vosk model site.
KNOWN_ARCHIVES: dict[str, KnownArchive] = {
    DEFAULT_MODEL: KnownArchive(
        size=41_205_931,
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
    ),
}


class ModelFetchError(RuntimeError):
    """A model could not be fetched; says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot fetch speech model from {url}: {reason}")
        self.url = url
        self.reason = reason


def model_url(name: str) -> str:
    """The Vosk model site's URL for a model zip."""
    return f"{MODEL_SITE}/{name}.zip"


def is_model_dir(path: Path) -> bool:
    """True when ``path`` looks like an unpacked Vosk model (am/ or conf/model.conf)."""
    path = Path(path)
    return (path / "am").is_dir() or (path / "conf" / "model.conf").is_file()


def fetch_model(
    name: str = DEFAULT_MODEL, dest: Path = Path("models"), url: str | None = None,
    sha256: str | Path | None = None, progress: bool = True, timeout: float = 30.0,
) -> Path:
    """Download and unpack model ``name`` into ``dest/name``; return its folder.

    ``sha256`` is the expected digest, or a checksum file (``sha256sum``
    format) holding it; known models are checked against their published
    size and digest.  The computed digest is recorded in the model folder
    (``fetched.json``).  An existing model folder is returned untouched.
    """
    dest = Path(dest)
    target = dest / name
    if is_model_dir(target):
        log.info("speech model already present: %s", target)
        return target
    url = url or model_url(name)
    if target.exists():
        raise ModelFetchError(url, f"{target} exists but is not a Vosk model; remove it first")
    known = KNOWN_ARCHIVES.get(name)
    expected = _expected_digest(sha256) or (known.sha256 if known else None)
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f".{name}.zip.part"
    try:
        size, digest = _download(url, part, progress, timeout)
        _check(url, size, digest, known, expected)
        _unpack(url, part, target)
    finally:
        part.unlink(missing_ok=True)
    _record(target, url, size, digest, verified=expected is not None)
    return target


def _expected_digest(sha256: str | Path | None) -> str | None:
    """A hex digest given directly or as the first field of a checksum file."""
    if sha256 is None:
        return None
    text = str(sha256)
    if Path(text).is_file():
        text = (Path(text).read_text().split() or [""])[0]
    return text.strip().lower() or None


def _download(url: str, part: Path, progress: bool, timeout: float) -> tuple[int, str]:
    """Stream ``url`` into ``part``; return its size and SHA-256."""
    try:
        with requests.get(url, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise ModelFetchError(url, f"HTTP {resp.status_code} {resp.reason}")
            declared = int(resp.headers.get("Content-Length") or 0) or None
            return _save(resp, part, declared, progress, url)
    except requests.RequestException as exc:
        raise ModelFetchError(url, f"unreachable ({exc.__class__.__name__}: {exc})") from exc


def _save(resp: requests.Response, part: Path, declared: int | None, progress: bool,
          url: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with part.open("wb") as out, tqdm(total=declared, unit="B", unit_scale=True,
                                      desc=Path(url).name, disable=not progress) as bar:
        for block in resp.iter_content(chunk_size=1 << 16):
            out.write(block)
            digest.update(block)
            size += len(block)
            bar.update(len(block))
    if declared is not None and size != declared:
        raise ModelFetchError(url, f"download cut short: {size} of {declared} bytes")
    return size, digest.hexdigest()


def _check(url: str, size: int, digest: str, known: KnownArchive | None,
           expected: str | None) -> None:
    """Refuse an archive whose size or SHA-256 is not the expected one."""
    if known and size != known.size:
        raise ModelFetchError(url, f"size mismatch: expected {known.size} bytes, got {size}")
    if expected and digest != expected:
        raise ModelFetchError(url, f"SHA-256 mismatch: expected {expected}, got {digest}")
    if not expected:
        log.warning("no checksum known for %s; computed SHA-256 %s (recorded)", url, digest)


def _unpack(url: str, archive: Path, target: Path) -> None:
    """Extract into a temporary folder beside ``target``, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                p = PurePosixPath(member)
                if p.is_absolute() or ".." in p.parts:
                    raise ModelFetchError(url, f"unsafe path in archive: {member}")
            zf.extractall(tmp)
        root = _model_root(tmp)
        if root is None:
            raise ModelFetchError(url, "archive holds no Vosk model (no am/ or conf/model.conf)")
        root.rename(target)
    except zipfile.BadZipFile as exc:
        raise ModelFetchError(url, f"not a valid zip archive ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _model_root(folder: Path) -> Path | None:
    """The model folder inside an unpacked archive: the folder itself or its one child."""
    if is_model_dir(folder):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir()]
    return children[0] if len(children) == 1 and is_model_dir(children[0]) else None


def _record(target: Path, url: str, size: int, digest: str, verified: bool) -> None:
    record = dict(url=url, size=size, sha256=digest, verified=verified,
                  fetched_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (target / FETCH_RECORD).write_text(json.dumps(record, indent=2) + "\n")


def resolve_speech_model(vosk_model_path: str | None, models_dir: Path) -> Path | None:
    """The model folder to load: ``VOSK_MODEL_PATH``, else the newest under ``models_dir``.

    Raises ``FileNotFoundError`` when ``VOSK_MODEL_PATH`` is set but is not a
    Vosk model folder (bad configuration fails fast); None when there is none.
    """
    if vosk_model_path:
        path = Path(vosk_model_path).expanduser()
        if not is_model_dir(path):
            raise FileNotFoundError(f"VOSK_MODEL_PATH={vosk_model_path} is not a Vosk model folder")
        return path
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return None
    found = [p for p in models_dir.iterdir()
             if p.is_dir() and not p.name.startswith(".") and is_model_dir(p)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


DECODER_OPTIONS = ("max-active", "beam", "lattice-beam")


def tune_model(source: Path, models_dir: Path, settings: dict[str, float],
               name: str | None = None) -> Path:
    """A copy of model ``source`` under ``models_dir`` with decoder ``settings`` changed.

    The copy links the model's large folders (``am``, ``graph``, ``ivector`` …)
    and writes its own ``conf/`` with ``model.conf`` holding the new
    ``--max-active`` / ``--beam`` / ``--lattice-beam``; ``source`` (possibly
    inside an installed package) is never written.  Returns the new folder;
    one made before under the same name is replaced.
    """
    source = Path(source).resolve()
    if not is_model_dir(source):
        raise FileNotFoundError(f"{source} is not a Vosk model folder")
    unknown = set(settings) - set(DECODER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown decoder settings: {', '.join(sorted(unknown))}")
    label = "-".join(f"{k.replace('-', '')}{v:g}" for k, v in sorted(settings.items()))
    base = source.parent.name if source.name == "model" else source.name
    target = Path(models_dir) / (name or f"{base}-tuned-{label or 'default'}")
    if target.resolve() == source:
        raise ValueError("the tuned copy would overwrite the source model")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=_ensure_dir(models_dir)))
    try:
        for child in source.iterdir():
            if child.name != "conf":
                (tmp / child.name).symlink_to(child)
        (tmp / "conf").mkdir()
        for conf in (source / "conf").iterdir():
            if conf.name != "model.conf":
                shutil.copy2(conf, tmp / "conf" / conf.name)
        original = (source / "conf" / "model.conf").read_text()
        (tmp / "conf" / "model.conf").write_text(tuned_conf(original, settings))
        (tmp / "tuned.json").write_text(json.dumps(
            {"source": str(source), "settings": settings}, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from a service user
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def tuned_conf(text: str, settings: dict[str, float]) -> str:
    """``model.conf`` text with ``--NAME=value`` lines set (added when missing)."""
    lines, seen = [], set()
    for line in text.splitlines():
        key = line.split("=", 1)[0].lstrip("-").strip()
        if line.startswith("--") and key in settings:
            line = f"--{key}={settings[key]:g}"
            seen.add(key)
        lines.append(line)
    lines += [f"--{k}={v:g}" for k, v in settings.items() if k not in seen]
    return "\n".join(lines) + "\n"


def _ensure_dir(path: Path) -> Path:
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def describe_missing_model() -> str:
    """How to get a speech model, for the start-up log and /healthz."""
    return (
        "No speech model: calls are accepted and recorded as not transcribed. "
        f"Run `voice models fetch` to download {DEFAULT_MODEL} (about 40 MB) into models/ "
        f"from {MODEL_SITE}, or set VOSK_MODEL_PATH to any unpacked Vosk model folder."
    )
