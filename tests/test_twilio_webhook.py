"""The Twilio webhooks: TwiML content and request signatures on all three endpoints."""

import logging
import time
import xml.etree.ElementTree as ET

import pytest
import websocket
from conftest import LiveServer
from twilio.request_validator import RequestValidator
from twilio_helpers import wait_for

from voice import create_app
from voice.events import CallStarted
from voice.metrics import counters
from voice.services import services_of
from voice.twilio.signature import STREAM_TOKEN_TTL_S, stream_token_problem

TOKEN = "test-auth-token"
PUBLIC = "https://coach.example.com"
CALL = "CA" + "a" * 32
CALL_FORM = {"CallSid": CALL, "AccountSid": "AC" + "0" * 32, "From": "+15550001",
             "To": "+15550002", "CallStatus": "ringing", "Direction": "inbound"}


def sign(url: str, params: dict, token: str = TOKEN) -> dict:
    """Headers carrying the signature Twilio would send for ``url`` + ``params``."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def post_signed(client, path: str, form: dict, url: str | None = None, token: str = TOKEN):
    return client.post(path, data=form, headers=sign(url or PUBLIC + path, form, token))


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return ET.fromstring(response.data)


# --- the voice webhook's TwiML -----------------------------------------------------------


def test_voice_webhook_streams_both_tracks_then_dials_the_desk(client):
    root = twiml(post_signed(client, "/twilio/voice", CALL_FORM))
    assert [child.tag for child in root] == ["Start", "Dial"]
    stream = root.find("Start/Stream")
    assert stream.attrib == {"url": "wss://coach.example.com/twilio/stream",
                             "track": "both_tracks"}
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    token = params.pop("token")
    assert params == {"desk": "front-desk", "from": "+15550001", "to": "+15550002"}
    assert stream_token_problem(TOKEN, CALL, token) is None
    dial = root.find("Dial")
    assert dial.get("action") == "https://coach.example.com/twilio/status"
    number = dial.find("Number")
    assert number.text == "+15550100"
    assert number.get("statusCallback") == "https://coach.example.com/twilio/status"
    assert number.get("statusCallbackEvent") == "completed"
    assert counters.get("twilio.calls_answered") == 1


def stream_parameters(response) -> dict[str, str]:
    stream = twiml(response).find("Start/Stream")
    return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


def test_stream_token_is_bound_to_the_call_and_the_auth_token(client):
    other_call = "CA" + "b" * 32
    mine = stream_parameters(post_signed(client, "/twilio/voice", CALL_FORM))["token"]
    form = {**CALL_FORM, "CallSid": other_call}
    theirs = stream_parameters(post_signed(client, "/twilio/voice", form))["token"]
    assert stream_token_problem(TOKEN, CALL, mine) is None
    assert stream_token_problem(TOKEN, other_call, theirs) is None
    assert stream_token_problem(TOKEN, CALL, theirs) == "not this call's token"
    assert stream_token_problem("another-auth-token", CALL, mine) == "not this call's token"
    expiry, _, mac = mine.partition(".")
    assert len(mac) == 64 and set(mac) <= set("0123456789abcdef")  # HMAC-SHA256, hex
    assert 0 < int(expiry) - time.time() <= STREAM_TOKEN_TTL_S


def test_voice_webhook_dials_a_softphone_client(config):
    app = create_app(config.replace(desk_number="client:front-desk-1"))
    root = twiml(post_signed(app.test_client(), "/twilio/voice", CALL_FORM))
    client_noun = root.find("Dial/Client")
    assert client_noun.find("Identity").text == "front-desk-1"
    assert client_noun.get("statusCallback") == "https://coach.example.com/twilio/status"
    assert root.find("Dial/Number") is None


def test_voice_webhook_without_a_desk_number_says_so(config, caplog):
    app = create_app(config.replace(desk_number=""))
    with caplog.at_level(logging.ERROR, logger="voice.twilio.webhook"):
        root = twiml(post_signed(app.test_client(), "/twilio/voice", CALL_FORM))
    assert [child.tag for child in root] == ["Say"]
    assert "not connected to the front desk" in root.find("Say").text
    assert f"call {CALL}: VOICE_DESK_NUMBER is unset" in caplog.text


def test_public_url_with_a_path_prefix_is_kept(config):
    app = create_app(config.replace(public_url="https://example.org/coach"))
    form = dict(CALL_FORM)
    root = twiml(post_signed(app.test_client(), "/twilio/voice", form,
                             url="https://example.org/coach/twilio/voice"))
    assert root.find("Start/Stream").get("url") == "wss://example.org/coach/twilio/stream"
    assert root.find("Dial").get("action") == "https://example.org/coach/twilio/status"


# --- signatures on the HTTP endpoints ------------------------------------------------------

STATUS_FORM = {"CallSid": CALL, "CallStatus": "completed", "AccountSid": "AC" + "0" * 32}


@pytest.mark.parametrize(("path", "form"), [("/twilio/voice", CALL_FORM),
                                             ("/twilio/status", STATUS_FORM)])
def test_signed_request_is_accepted(client, path, form):
    assert post_signed(client, path, form).status_code == 200


@pytest.mark.parametrize(("path", "form"), [("/twilio/voice", CALL_FORM),
                                             ("/twilio/status", STATUS_FORM)])
@pytest.mark.parametrize(
    ("case", "headers_for"),
    [
        ("missing", lambda path, form: {}),
        ("wrong", lambda path, form: sign(PUBLIC + path, form, token="not-the-token")),
        ("wrong url", lambda path, form: sign("https://evil.example.com" + path, form)),
        ("wrong path", lambda path, form: sign(PUBLIC + "/twilio/other", form)),
        ("http not https", lambda path, form: sign("http://coach.example.com" + path, form)),
        ("other params", lambda path, form: sign(PUBLIC + path, {**form, "From": "+1999"})),
    ],
)
def test_bad_or_missing_signature_is_a_403_with_a_log_line(
    client, caplog, path, form, case, headers_for
):
    with caplog.at_level(logging.WARNING, logger="voice.twilio.signature"):
        response = client.post(path, data=form, headers=headers_for(path, form))
    assert response.status_code == 403, case
    assert response.get_json()["error"] == "forbidden"
    assert f"refused POST {path}" in caplog.text and CALL in caplog.text
    assert counters.get("twilio.signature_rejected") == 1
    assert counters.get("twilio.calls_answered") == 0


def test_refused_status_callback_changes_nothing(app, client):
    svc = services_of(app)
    live = svc.calls.open(CallStarted(CALL, "+15550001"), with_audio=False)
    response = client.post("/twilio/status", data=STATUS_FORM, headers=sign(PUBLIC, STATUS_FORM))
    assert response.status_code == 403
    assert svc.calls.get(CALL) is live
    assert svc.store.get_call(CALL)["status"] == "live"


def test_query_string_is_part_of_the_signed_url(client):
    form = dict(STATUS_FORM)
    url = PUBLIC + "/twilio/status?desk=east"
    assert client.post("/twilio/status?desk=east", data=form,
                       headers=sign(url, form)).status_code == 200
    assert client.post("/twilio/status?desk=west", data=form,
                       headers=sign(url, form)).status_code == 403


def test_port_in_the_signed_url_is_tolerated(client):
    form = dict(CALL_FORM)
    headers = sign("https://coach.example.com:443/twilio/voice", form)
    assert client.post("/twilio/voice", data=form, headers=headers).status_code == 200


# --- the URL without VOICE_PUBLIC_URL: X-Forwarded-* ---------------------------------------


@pytest.fixture
def proxied_client(config):
    return create_app(config.replace(public_url=None)).test_client()


def test_forwarded_proto_and_host_make_the_signed_url(proxied_client):
    form = dict(CALL_FORM)
    headers = {**sign("https://calls.example.net/twilio/voice", form),
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.net"}
    root = twiml(proxied_client.post("/twilio/voice", data=form, headers=headers))
    assert root.find("Start/Stream").get("url") == "wss://calls.example.net/twilio/stream"
    assert root.find("Dial").get("action") == "https://calls.example.net/twilio/status"


def test_first_of_several_forwarded_values_counts(proxied_client):
    form = dict(STATUS_FORM)
    headers = {**sign("https://calls.example.net/twilio/status", form),
               "X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "calls.example.net, lb"}
    assert proxied_client.post("/twilio/status", data=form, headers=headers).status_code == 200


def test_internal_url_is_refused_when_the_proxy_says_otherwise(proxied_client):
    form = dict(STATUS_FORM)
    headers = {**sign("http://localhost/twilio/status", form),
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.net"}
    assert proxied_client.post("/twilio/status", data=form, headers=headers).status_code == 403


def test_without_proxy_headers_the_request_url_counts(proxied_client):
    form = dict(STATUS_FORM)
    headers = sign("http://localhost/twilio/status", form)
    assert proxied_client.post("/twilio/status", data=form, headers=headers).status_code == 200


# --- unset token and the development flag ----------------------------------------------------


def test_unset_token_refuses_webhooks(config, caplog):
    client = create_app(config.replace(twilio_auth_token="")).test_client()
    with caplog.at_level(logging.WARNING, logger="voice.twilio.signature"):
        response = client.post("/twilio/voice", data=CALL_FORM,
                               headers=sign(PUBLIC + "/twilio/voice", CALL_FORM, token=""))
    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN is unset" in caplog.text


def test_dev_flag_with_unset_token_accepts_unsigned_requests(config):
    client = create_app(config.replace(twilio_auth_token="", insecure_dev=True)).test_client()
    response = client.post("/twilio/voice", data=CALL_FORM)
    assert response.status_code == 200
    assert "token" not in stream_parameters(response)  # no key to make one; not checked either
    assert client.post("/twilio/status", data=STATUS_FORM).status_code == 200


def test_dev_flag_does_not_switch_off_a_configured_token(config):
    client = create_app(config.replace(insecure_dev=True)).test_client()
    assert client.post("/twilio/voice", data=CALL_FORM).status_code == 403


# --- the status callback ----------------------------------------------------------------------


def test_completed_status_ends_a_live_call(app, client):
    svc = services_of(app)
    svc.calls.open(CallStarted(CALL, "+15550001"), with_audio=False)
    assert post_signed(client, "/twilio/status", STATUS_FORM).status_code == 200
    # the webhook answers at once; the call ends on a background thread
    assert wait_for(lambda: svc.store.get_call(CALL)["status"] == "completed", timeout=10)
    assert wait_for(lambda: svc.calls.get(CALL) is None, timeout=5)
    assert svc.store.get_call(CALL)["follow_ups"], "the call.s outcome was filed"


def test_status_closes_a_record_that_has_no_live_session_here(app, client):
    svc = services_of(app)
    svc.store.open_call(CallStarted(CALL, "+15550001"))
    form = {**STATUS_FORM, "CallStatus": "no-answer"}
    assert post_signed(client, "/twilio/status", form).status_code == 200
    assert svc.store.get_call(CALL)["status"] == "no-answer"


def test_dial_action_for_an_unanswered_desk_apologises_and_closes(app, client):
    svc = services_of(app)
    svc.store.open_call(CallStarted(CALL, "+15550001"))
    form = {**STATUS_FORM, "CallStatus": "in-progress", "DialCallStatus": "busy"}
    root = twiml(post_signed(client, "/twilio/status", form))
    assert "nobody at the front desk" in root.find("Say").text
    assert svc.store.get_call(CALL)["status"] == "busy"


def test_dialled_leg_callback_closes_the_callers_call(app, client):
    svc = services_of(app)
    svc.store.open_call(CallStarted(CALL, "+15550001"))
    form = {"CallSid": "CA" + "c" * 32, "ParentCallSid": CALL, "CallStatus": "completed"}
    assert post_signed(client, "/twilio/status", form).status_code == 200
    assert svc.store.get_call(CALL)["status"] == "completed"


def test_ongoing_status_changes_nothing(app, client):
    svc = services_of(app)
    svc.store.open_call(CallStarted(CALL, "+15550001"))
    form = {**STATUS_FORM, "CallStatus": "in-progress"}
    assert not list(twiml(post_signed(client, "/twilio/status", form)))
    assert svc.store.get_call(CALL)["status"] == "live"


def test_status_for_an_unknown_call_is_a_200_with_a_log_line(client, caplog):
    form = {**STATUS_FORM, "CallSid": "CA" + "f" * 32}
    with caplog.at_level(logging.INFO, logger="voice.twilio.webhook"):
        assert post_signed(client, "/twilio/status", form).status_code == 200
    assert "CA" + "f" * 32 in caplog.text and "no open record" in caplog.text
    assert counters.get("twilio.status_unknown_call") == 1


# --- the WebSocket upgrade --------------------------------------------------------------------

STREAM_URL = "wss://coach.example.com/twilio/stream"


def open_socket(server: LiveServer, headers: dict) -> websocket.WebSocket:
    url = server.url.replace("http://", "ws://") + "/twilio/stream"
    return websocket.create_connection(url, header=headers, timeout=10)


def test_signed_websocket_upgrade_is_accepted(live_server):
    ws = open_socket(live_server, sign(STREAM_URL, {}))
    assert ws.getstatus() == 101
    ws.close()


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("missing", {}),
        ("wrong", sign(STREAM_URL, {}, token="not-the-token")),
        ("wrong url", sign("wss://evil.example.com/twilio/stream", {})),
        ("https not wss", sign("https://coach.example.com/twilio/stream", {})),
    ],
)
def test_bad_websocket_upgrade_is_refused_before_the_handshake(live_server, caplog, case, headers):
    with caplog.at_level(logging.WARNING, logger="voice.twilio.signature"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            open_socket(live_server, headers)
    assert refused.value.status_code == 403, case
    assert "refused WebSocket /twilio/stream" in caplog.text
    assert counters.get("twilio.signature_rejected") == 1


def test_websocket_upgrade_through_a_proxy_is_signed_for_the_forwarded_host(config):
    app = create_app(config.replace(public_url=None))
    with LiveServer(app) as server:
        headers = {**sign("wss://calls.example.net/twilio/stream", {}),
                   "X-Forwarded-Proto": "https", "X-Forwarded-Host": "calls.example.net"}
        open_socket(server, headers).close()
        with pytest.raises(websocket.WebSocketBadStatusException):
            open_socket(server, sign(f"wss://127.0.0.1:{server.port}/twilio/stream", {}) | {
                "X-Forwarded-Host": "calls.example.net"})


def test_websocket_upgrade_with_unset_token(config):
    for dev, expected in ((False, 403), (True, 101)):
        app = create_app(config.replace(twilio_auth_token="", insecure_dev=dev))
        with LiveServer(app) as server:
            if expected == 403:
                with pytest.raises(websocket.WebSocketBadStatusException):
                    open_socket(server, {})
            else:
                open_socket(server, {}).close()
