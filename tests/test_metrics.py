"""``GET /metrics``: Prometheus text that prometheus_client's parser reads; scrapers only.

A simulated call and a refused login move the metrics the operator watches;
the counters API the code uses reads the same values back, each name in its
own metric.
Access: loopback without a token (unless ``VOICE_METRICS_LOOPBACK=0``), the
bearer token from anywhere, nobody else.  Multi-process mode adds up what two
real processes counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PASSWORD, csrf_token_of
from prometheus_client.parser import text_string_to_metric_families

from voice import create_app
from voice.config import Config
from voice.events import CallStarted, Utterance
from voice.metrics import counters
from voice.scenarios.script import SCENARIO_DIR, load_scenario
from voice.services import services_of

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
WATCHED = {
    "voice_live_calls", "voice_frames_received", "voice_frames_skipped", "voice_frames_dropped",
    "voice_asr_lag_seconds", "voice_decode_real_time_factor", "voice_prompt_latency_seconds",
    "voice_frustration_scoring_seconds", "voice_db_write_queue_depth",
    "voice_db_write_failures", "voice_bus_publish_failures", "voice_failed_logins",
}


def scrape(client, **kwargs) -> dict:  # noqa: ANN001
    """``/metrics`` parsed: {family name: {(sample name, labels): value}}."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    families = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        families[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value
                                 for s in family.samples}
    return families


def value(families: dict, family: str, sample: str, **labels: str) -> float:
    return families[family].get((sample, tuple(sorted(labels.items()))), 0.0)


def play_scenario(app) -> str:  # noqa: ANN001
    """Feed the billing-dispute scenario's utterances into a live call; its sid."""
    svc = services_of(app)
    call = svc.calls.open(CallStarted("CAmetrics01", "+15550001", desk="front-desk",
                                      simulated=True), with_audio=False)
    for turn in load_scenario(SCENARIO_DIR / "billing_dispute.yaml").turns:
        call.add_utterance(Utterance(call.call_sid, turn.speaker, turn.text,  # type: ignore[arg-type]
                                     max(0.0, turn.at - 2), turn.at, True))
    return call.call_sid


def test_metrics_parse_and_move_with_calls_logins_and_frames(scored_app):
    client = scored_app.test_client()
    before = scrape(client)
    assert WATCHED <= set(before), WATCHED - set(before)

    call_sid = play_scenario(scored_app)
    during = scrape(client)
    assert value(during, "voice_live_calls", "voice_live_calls") == 1
    prompts = services_of(scored_app).calls.get(call_sid).prompts
    assert prompts, "the scenario makes the coach prompt"
    grew = (value(during, "voice_prompt_latency_seconds", "voice_prompt_latency_seconds_count")
            - value(before, "voice_prompt_latency_seconds", "voice_prompt_latency_seconds_count"))
    assert grew == len(prompts)
    scored = (value(during, "voice_frustration_scoring_seconds",
                    "voice_frustration_scoring_seconds_count")
              - value(before, "voice_frustration_scoring_seconds",
                      "voice_frustration_scoring_seconds_count"))
    assert scored >= 5

    services_of(scored_app).store.users.add("desk", PASSWORD, "receptionist", ["front-desk"])
    refused = client.post("/login", data={"username": "desk", "password": "wrong-password",
                                          "csrf_token": csrf_token_of(client)})
    assert refused.status_code == 401
    services_of(scored_app).calls.end("CAmetrics01", "completed")
    after = scrape(client)
    assert (value(after, "voice_failed_logins", "voice_failed_logins_total")
            - value(before, "voice_failed_logins", "voice_failed_logins_total")) == 1
    assert value(after, "voice_live_calls", "voice_live_calls") == 0
    assert counters.get("auth.logins_failed") == 1
    assert counters.snapshot()["auth.logins_failed"] == 1


def test_counters_api_reads_back_the_prometheus_values():
    counters.incr("twilio.stream.sequence_gap", 3)
    counters.incr("asr.chunks_dropped")
    counters.incr("some.new_event")
    assert counters.get("twilio.stream.sequence_gap") == 3
    assert counters.snapshot() == {"twilio.stream.sequence_gap": 3, "asr.chunks_dropped": 1,
                                   "some.new_event": 1}
    counters.reset()
    assert counters.get("asr.chunks_dropped") == 0 and counters.snapshot() == {}
    counters.incr("asr.chunks_dropped", 2)
    assert counters.get("asr.chunks_dropped") == 2


def test_named_counters_land_in_their_own_metric(app):
    client = app.test_client()
    before = scrape(client)
    counters.incr("twilio.stream.sequence_gap", 2)
    counters.incr("bus.publish_errors")
    counters.incr("db.write_failures")
    counters.incr("coach.errors")
    after = scrape(client)

    def grew(family: str, sample: str, **labels: str) -> float:
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert grew("voice_frames_skipped", "voice_frames_skipped_total", reason="sequence_gap") == 2
    assert grew("voice_bus_publish_failures", "voice_bus_publish_failures_total",
                kind="error") == 1
    assert grew("voice_db_write_failures", "voice_db_write_failures_total", kind="failure") == 1
    assert grew("voice_events", "voice_events_total", event="coach.errors") == 1


def test_asr_lag_per_call_comes_from_the_registry_hook(app):
    svc = services_of(app)
    lags = {"CAlagging": {"lag_s": 3.5, "delayed": True}}
    svc.calls.asr_lag = lambda: dict(lags)  # stands in for a live call falling behind
    client = app.test_client()
    assert value(scrape(client), "voice_asr_lag_seconds", "voice_asr_lag_seconds",
                 call_sid="CAlagging") == 3.5
    lags.clear()
    assert ("voice_asr_lag_seconds", (("call_sid", "CAlagging"),)) not in \
        scrape(client)["voice_asr_lag_seconds"]


def test_strangers_get_404_when_no_token_is_set(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404
    # a proxy on loopback relays strangers: loopback with a forwarding header is not loopback
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401


def test_the_metrics_token_opens_it_from_anywhere(tmp_path: Path):
    config = Config.for_testing(database_url=f"sqlite:///{tmp_path / 'm.db'}",
                                metrics_token="scrape-me-0123456789")
    app = create_app(config)
    client = app.test_client()
    assert client.get("/metrics", environ_base=REMOTE).status_code == 401
    assert client.get("/metrics", environ_base=REMOTE,
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", environ_base=REMOTE,
                      headers={"Authorization": "Basic c2NyYXBlLW1lLTAxMjM0NTY3ODk="}
                      ).status_code == 401
    scrape(client, environ_base=REMOTE,
           headers={"Authorization": "Bearer scrape-me-0123456789"})
    scrape(client)  # loopback is still allowed
    services_of(app).calls.end_all()


def test_loopback_can_be_refused_too(tmp_path: Path):
    config = Config.for_testing(database_url=f"sqlite:///{tmp_path / 'm.db'}",
                                metrics_token="scrape-me-0123456789", metrics_loopback=False)
    client = create_app(config).test_client()
    assert client.get("/metrics").status_code == 401
    scrape(client, headers={"Authorization": "Bearer scrape-me-0123456789"})


def test_metrics_settings_are_read_from_the_environment():
    config = Config.from_env({"VOICE_METRICS_TOKEN": " tok ", "VOICE_METRICS_LOOPBACK": "0",
                              "VOICE_HEARTBEAT_S": "1", "VOICE_STALE_CALL_S": "5"}, dotenv=False)
    assert (config.metrics_token, config.metrics_loopback) == ("tok", False)
    assert (config.heartbeat_s, config.stale_call_s) == (1.0, 5.0)
    from voice.config import ConfigError

    with pytest.raises(ConfigError, match="VOICE_STALE_CALL_S"):
        Config.from_env({"VOICE_HEARTBEAT_S": "10", "VOICE_STALE_CALL_S": "15"}, dotenv=False)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Config.from_env({"VOICE_WORKERS": "2"}, dotenv=False)
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        Config.from_env({"VOICE_WORKERS": "2", "REDIS_URL": "redis://127.0.0.1:6379/5"},
                        dotenv=False)


WORKER = textwrap.dedent("""
    import sys
    from voice.metrics import LIVE_CALLS, counters
    counters.incr("auth.logins_failed", int(sys.argv[1]))
    LIVE_CALLS.set(int(sys.argv[1]))
""")
COLLECT = "from voice.metrics import render; print(render()[0].decode())"


def test_multiprocess_mode_adds_up_every_worker(tmp_path: Path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    pids = []
    for n in ("2", "3"):
        worker = subprocess.Popen([sys.executable, "-c", WORKER, n], env=env)
        assert worker.wait(timeout=60) == 0
        pids.append(worker.pid)

    def collect(before: str = "") -> dict[str, float]:
        text = subprocess.run([sys.executable, "-c", before + COLLECT], env=env, check=True,
                              timeout=60, capture_output=True, text=True).stdout
        return {s.name: s.value for f in text_string_to_metric_families(text)
                for s in f.samples if not s.labels}

    samples = collect()
    assert samples["voice_failed_logins_total"] == 5
    assert samples["voice_live_calls"] == 5
    # gunicorn's child_exit hook: a dead worker's live calls are no longer counted
    samples = collect(f"from voice.metrics import worker_exited; worker_exited({pids[0]}); ")
    assert samples["voice_live_calls"] == 3
    assert samples["voice_failed_logins_total"] == 5
