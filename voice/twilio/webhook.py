"""The Twilio HTTP webhooks: the voice webhook (TwiML) and the call-status callback.

``POST /twilio/voice`` answers a ringing call with TwiML built by the twilio
SDK: start a ``both_tracks`` Media Stream to ``wss://<public host>/twilio/stream``
(desk, caller and called number passed as ``<Parameter>``s, with a ``token``
that binds the stream to this CallSid; see ``signature.call_stream_token``),
then ``<Dial>`` the desk so a human still answers.  ``POST /twilio/status`` takes status callbacks
(the ``<Dial>`` action, the dialled leg's status callback, or the number's own
"call status changes" webhook) and closes the call record when the call is over.
Both are signature-checked first.  A voice webhook for a call whose record has
ended (a replay) gets ``<Hangup/>``: no stream, no token, the record untouched.
"""

from __future__ import annotations

import logging

from flask import Response, request
from twilio.twiml.voice_response import Dial, Start, VoiceResponse

from voice.events import EndStatus, is_end_status
from voice.logsafe import mask_number
from voice.metrics import counters
from voice.services import current_services
from voice.twilio import bp
from voice.twilio.signature import (
    STREAM_TOKEN_PARAMETER,
    call_stream_token,
    public_base,
    require_webhook_signature,
    websocket_url,
)

log = logging.getLogger(__name__)

FINAL_STATUSES: frozenset[EndStatus] = frozenset({"completed", "busy", "failed", "no-answer",
                                                  "canceled"})
NOT_ANSWERED = FINAL_STATUSES - {"completed"}
NO_DESK_SAY = ("Sorry, this line is not connected to the front desk yet. "
               "Please call again later.")
NOT_ANSWERED_SAY = "Sorry, nobody at the front desk could take your call. Please call again."


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _public_url(path: str) -> str:
    scheme, host = public_base()
    return f"{scheme}://{host}{path}"


def build_voice_twiml(
    stream_url: str, status_url: str, desk_number: str, parameters: dict[str, str]
) -> VoiceResponse:
    """TwiML: stream both tracks to ``stream_url``, then dial the desk."""
    response = VoiceResponse()
    start = Start()
    stream = start.stream(url=stream_url, track="both_tracks")
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(start)
    dial = Dial(action=status_url, method="POST")
    if desk_number.startswith("client:"):
        client = dial.client(status_callback=status_url, status_callback_event="completed",
                             status_callback_method="POST")
        client.identity(desk_number[len("client:"):])
    else:
        dial.number(desk_number, status_callback=status_url, status_callback_event="completed",
                    status_callback_method="POST")
    response.append(dial)
    return response


@bp.post("/voice")
def voice() -> Response:
    """Answer a call: stream it to the coach and ring the front desk."""
    require_webhook_signature()
    config = current_services().config
    call_sid = request.form.get("CallSid", "")
    ended = _ended_status(call_sid)
    if ended is not None:
        counters.incr("twilio.voice_for_ended_call")
        log.warning("call %s: voice webhook for a call that already ended (%s); answering "
                    "with a hang-up, no stream, the record is left as it is", call_sid, ended)
        response = VoiceResponse()
        response.hangup()
        return _twiml(response)
    if not config.desk_number:
        counters.incr("twilio.calls_without_desk")
        log.error("call %s: VOICE_DESK_NUMBER is unset, so there is nobody to ring; "
                  "the caller hears an apology", call_sid or "-")
        response = VoiceResponse()
        response.say(NO_DESK_SAY)
        return _twiml(response)
    parameters = {
        "desk": config.desk_name,
        "from": request.form.get("From", ""),
        "to": request.form.get("To", ""),
    }
    if not config.webhooks_open:  # signed, so the token is set (else we'd have 403'd)
        parameters[STREAM_TOKEN_PARAMETER] = call_stream_token(config.twilio_auth_token,
                                                               call_sid)
    twiml = build_voice_twiml(
        websocket_url("/twilio/stream"),
        _public_url("/twilio/status"),
        config.desk_number,
        parameters,
    )
    counters.incr("twilio.calls_answered")
    log.info("call %s from %s: streaming to the coach and dialling %s",
             call_sid or "-", mask_number(parameters["from"]), config.desk_number)
    return _twiml(twiml)


def _ended_status(call_sid: str) -> str | None:
    """How the call ended when its record says so; None for a new or live call."""
    if not call_sid:
        return None
    try:
        status = current_services().store.call_status(call_sid)
    except Exception as exc:  # the database is down: answer the call anyway
        log.warning("call %s: could not read the call's status: %s", call_sid,
                    exc.__class__.__name__)
        return None
    return status if status not in (None, "live") else None


def _status_of_request() -> tuple[str, str]:
    """``(call sid of the caller's call, status)`` from any kind of status request."""
    form = request.form
    call_sid = form.get("ParentCallSid") or form.get("CallSid", "")
    status = form.get("DialCallStatus") or form.get("CallStatus", "")
    return call_sid, status.strip().lower()


@bp.post("/status")
def status() -> Response:
    """A call-status callback: close the record when the call is over."""
    require_webhook_signature()
    call_sid, call_status = _status_of_request()
    response = VoiceResponse()
    if "DialCallStatus" in request.form and call_status in NOT_ANSWERED:
        response.say(NOT_ANSWERED_SAY)
    if not is_end_status(call_status) or call_status not in FINAL_STATUSES:
        log.debug("call %s: status %r, nothing to do", call_sid or "-", call_status)
        return _twiml(response)
    _close_call(call_sid, call_status)
    return _twiml(response)


def _close_call(call_sid: str, call_status: EndStatus) -> None:
    """End the call here if it is live here; else close its record, and have the
    instance running it (if another) end it there so it files its complete record."""
    svc = current_services()
    if svc.calls.end_soon(call_sid, call_status):
        log.info("call %s: %s (status callback), ending the live call", call_sid, call_status)
        return
    routed = svc.router.end_elsewhere(call_sid, call_status)
    closed = svc.store.close_call(call_sid, call_status)
    if routed:
        log.info("call %s: %s (status callback), sent to the instance running it",
                 call_sid, call_status)
        return
    if closed:
        log.info("call %s: %s (status callback), record closed", call_sid, call_status)
        return
    counters.incr("twilio.status_unknown_call")
    log.info("call %s: status %s for a call with no open record here (unknown, "
             "or already closed)", call_sid or "-", call_status)
