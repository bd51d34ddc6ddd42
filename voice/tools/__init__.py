"""Client tools that talk to a running service from outside: never imported by the server.

``simulate`` is the ``voice simulate`` command; ``audio_call`` and ``speech``
speak a scenario with espeak-ng into the service's Twilio Media Streams socket
(``--audio``); ``frames`` writes Twilio-shaped frames for those calls, the tests
and the load benchmark.  ``tests/test_layout.py`` checks that ``voice.wsgi``
does not import this package.
"""
