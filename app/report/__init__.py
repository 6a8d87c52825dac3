"""The session report: what a clinic keeps of every session, built from the stored data
(``model``), checked against the esketamine REMS Patient Monitoring Form (``rems``), drawn as
HTML and PDF (``html``, ``pdf``, ``trend``), signed into immutable versions (``signed``), and
exported as FHIR R4B and CSV (``fhir``, ``readings``); a label's sessions side by side
(``course``). The routes are in ``api``."""
