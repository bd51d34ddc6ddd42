"""The package's layout: the server never imports the client tools (``voice.tools``).

Each check runs in a fresh interpreter, so nothing an earlier test imported can
hide an import the server makes.
"""

import json
import subprocess
import sys
from pathlib import Path

import voice

ROOT = Path(voice.__file__).resolve().parent.parent


def _modules_after(code: str, tmp_path: Path) -> list[str]:
    """The ``voice.*`` modules loaded after running ``code`` in a new Python process."""
    script = code + (
        "\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('voice'))))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'voice.db'}",
           "VOICE_LOAD_SPEECH_MODEL": "0", "VOICE_LOAD_SENTIMENT_MODEL": "0"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_wsgi_app_does_not_import_the_client_tools(tmp_path):
    loaded = _modules_after("import voice.wsgi", tmp_path)
    assert "voice.wsgi" in loaded and "voice.api.simulate" in loaded
    assert "voice.scenarios.player" in loaded, "the in-service player is the server's"
    assert [m for m in loaded if m.startswith("voice.tools")] == []


def test_create_app_with_the_demo_loop_does_not_import_the_client_tools(tmp_path):
    loaded = _modules_after(
        "from voice import create_app\n"
        "from voice.config import Config\n"
        "create_app(Config.for_testing(demo=True, demo_speed=100.0, "
        f"database_url='sqlite:///{tmp_path / 'demo.db'}'))\n",
        tmp_path,
    )
    assert "voice.scenarios.player" in loaded
    assert [m for m in loaded if m.startswith("voice.tools")] == []


def test_the_voice_command_still_offers_simulate(tmp_path):
    loaded = _modules_after("from voice.cli import main\nassert 'simulate' in main.commands\n",
                            tmp_path)
    assert "voice.tools.simulate" in loaded
