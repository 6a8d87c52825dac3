"""Offline tools over recordings, apart from the server: ``evaluate`` (alarm rules over
recordings, through the live feeding path), ``workbench`` (rule sets side by side in one HTML
report) and ``export`` (a stored session as a recording). Nothing here imports the server
(``app.pipeline``, ``app.server``); ``evaluate`` is imported by ``workbench``, never the reverse,
and ``command`` (the ``vitalwatch evaluate`` command) uses both."""
