"""Scripted calls for the records tests: one per playbook topic, played through the pipeline."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from voice.events import CallStarted, Utterance

TZ = ZoneInfo("America/New_York")
START = "2026-12-03T15:15:00+00:00"  # Thursday 10:15 in New York
GREETING = ("receptionist",
            "good morning maple street family practice this is jenny how can i help")

CALLS = {
    "billing": [
        GREETING,
        ("caller", "hi this is robert alvarez i got a statement from you for four hundred "
                   "dollars and i already paid my bill"),
        ("receptionist", "okay let me pull that up"),
        ("caller", "this is ridiculous i have called three times about this bill"),
        ("caller", "and now you sent it to collections nobody ever calls me back"),
        ("receptionist", "i'm so sorry robert i can see why you're upset"),
        ("receptionist", "i'll talk to billing and call you tomorrow before noon"),
        ("caller", "okay thank you bye"),
    ],
    "insurance": [
        GREETING,
        ("caller", "my name is linda morris my insurance claim was denied again"),
        ("caller", "this is the third time and nobody can tell me why it was denied"),
        ("receptionist", "let me check with billing and get back to you by friday"),
        ("caller", "fine thanks"),
    ],
    "waiting": [
        GREETING,
        ("caller", "it's maria again i've been on hold for forty minutes this is ridiculous"),
        ("caller", "i am still waiting here for the doctor"),
        ("receptionist", "i'm sorry maria we'll call you this afternoon as soon as the doctor "
                         "is free"),
        ("caller", "alright thank you"),
    ],
    "rescheduled": [
        GREETING,
        ("caller", "hi my name is will harper you rescheduled my appointment again without "
                   "asking me"),
        ("caller", "this is ridiculous i took the day off work"),
        ("receptionist", "i'm so sorry will i'll find you a new time and call you back in "
                         "an hour"),
        ("caller", "okay thanks"),
    ],
    "results_callback": [
        GREETING,
        ("caller", "hello i'm calling for my mother ana ruiz she had blood work two weeks ago "
                   "and nobody called with her test results"),
        ("caller", "we are still waiting and nobody calls back"),
        ("receptionist", "i'll have the doctor look at her results and call you next week"),
        ("caller", "okay thank you"),
    ],
    "refills": [
        GREETING,
        ("caller", "this is grace the pharmacy still doesn't have my refill for my "
                   "prescription"),
        ("caller", "i've called again and again about it"),
        ("receptionist", "i'm sorry grace i'll send the refill request to the pharmacy on the "
                         "twelfth when the doctor signs it"),
        ("caller", "okay bye"),
    ],
}


def run_call(app, sid: str, turns, number: str = "+15553217788",  # noqa: ANN001
             start: str = START, desk: str = "front-desk") -> dict:
    """Play scripted turns through the real pipeline (scorer, coach, recorder) and end it."""
    services = app.extensions["voice"]
    session = services.calls.open(CallStarted(sid, number, "+15550100", desk, start),
                                  with_audio=False)
    t = 0.5
    for speaker, text in turns:
        end = t + 0.3 * len(text.split())
        session.add_utterance(Utterance(sid, speaker, text, t, end, True))
        t = end + 1.0
    session.end("completed")
    return services.store.get_call(sid)


