"""The session as a FHIR R4B Bundle (a collection): a pseudonymous Patient, the Encounter,
vital-sign Observations, MedicationAdministrations and Procedures, validated by
``fhir.resources`` before it leaves.

The Patient carries the clinic's label as its only identifier — no name, birth date or address:
vitalwatch never holds them. Continuous vitals go as one Observation a minute (the median of
that minute, as the report's trend), not one a second: a 90-minute session is ~90 per
parameter, not 5,400. Every valid cuff reading is its own blood-pressure panel.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from app.report.model import SessionReport

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LABEL_SYSTEM = "urn:vitalwatch:label"
VITAL_SIGNS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                           "code": "vital-signs", "display": "Vital Signs"}]}
# param: LOINC codings (the vital-signs profile's code first), UCUM unit, unit text.
VITALS: dict[str, tuple[list[tuple[str, str]], str, str]] = {
    "HR": ([("8867-4", "Heart rate")], "/min", "beats/minute"),
    "SpO2": ([("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
              ("2708-6", "Oxygen saturation in Arterial blood")], "%", "%"),
    "RR": ([("9279-1", "Respiratory rate")], "/min", "breaths/minute"),
    "EtCO2": ([("19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration")],
              "mm[Hg]", "mmHg"),
    "TEMP": ([("8310-5", "Body temperature")], "Cel", "°C"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = {"sys": ("8480-6", "Systolic blood pressure"), "dia": ("8462-4", "Diastolic blood pressure"),
            "map": ("8478-0", "Mean blood pressure")}
# RxNorm: only the concept checked against the published RxNorm entry is coded (esketamine
# nasal spray, SCDF 2201623); any other drug goes as text alone rather than under a guessed code.
RXNORM_CODES = {("esketamine", "intranasal"): ("2201623", "esketamine Nasal Spray")}
ROUTES = {"iv": "Intravenous", "im": "Intramuscular", "sublingual": "Sublingual",
          "intranasal": "Intranasal", "oral": "Oral"}


def _time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _quantity(value: float, code: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def bundle(report: SessionReport) -> dict[str, Any]:
    """The Bundle as JSON, validated. Raises pydantic.ValidationError if it is not valid R4B."""
    r = report
    patient_id, encounter_id = f"patient-{r.session_id}", f"encounter-{r.session_id}"
    subject = {"reference": f"Patient/{patient_id}"}
    encounter = {"reference": f"Encounter/{encounter_id}"}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient_id,
         "identifier": [{"system": LABEL_SYSTEM, "value": r.label}] if r.label else []},
        {"resourceType": "Encounter", "id": encounter_id,
         "status": "finished" if r.ended is not None else "in-progress",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
                   "display": "ambulatory"},
         "subject": subject,
         "period": {"start": _time(r.started), **({"end": _time(r.ended)} if r.ended is not None else {})}},
    ]
    n = 0

    def add(resource: dict[str, Any]) -> None:
        nonlocal n
        n += 1
        resources.append({"id": f"{resource['resourceType'].lower()}-{r.session_id}-{n}", **resource})

    for param, points in sorted(r.trend.items()):
        if param not in VITALS:
            continue
        codings, ucum, unit = VITALS[param]
        for t, value in points:
            add({"resourceType": "Observation", "status": "final", "category": [VITAL_SIGNS],
                 "code": {"coding": [{"system": LOINC, "code": c, "display": d} for c, d in codings],
                          "text": param},
                 "subject": subject, "encounter": encounter,
                 "effectivePeriod": {"start": _time(t), "end": _time(t + 60)},
                 "valueQuantity": _quantity(value, ucum, unit),
                 "note": [{"text": "median of the minute"}]})
    for cuff in r.nibp:
        if cuff.status != "ok":
            continue
        parts = [{"code": {"coding": [{"system": LOINC, "code": c, "display": d}]},
                  "valueQuantity": _quantity(getattr(cuff, key), "mm[Hg]", "mmHg")}
                 for key, (c, d) in BP_PARTS.items() if getattr(cuff, key) is not None]
        add({"resourceType": "Observation", "status": "final", "category": [VITAL_SIGNS],
             "code": {"coding": [{"system": LOINC, "code": BP_PANEL[0], "display": BP_PANEL[1]}],
                      "text": "NIBP"},
             "subject": subject, "encounter": encounter, "effectiveDateTime": _time(cuff.t),
             "component": parts})
    for dose in r.doses:
        d = dose.data
        coded = RXNORM_CODES.get((d["drug"], d["route"]))
        medication: dict[str, Any] = {"text": d["drug"]}
        if coded:
            medication["coding"] = [{"system": RXNORM, "code": coded[0], "display": coded[1]}]
        add({"resourceType": "MedicationAdministration", "status": "completed",
             "medicationCodeableConcept": medication, "subject": subject, "context": encounter,
             "effectiveDateTime": _time(dose.t_device),
             "dosage": {"route": {"text": ROUTES[d["route"]]},
                        "dose": _quantity(d["dose_mg"], "mg", "mg")},
             "note": [{"text": f"recorded by {dose.by}" + (f", lot {d['lot']}" if d.get("lot") else "")}]})
    for iv in r.interventions:
        d = iv.data
        add({"resourceType": "Procedure", "status": "completed",
             "code": {"text": " ".join(x for x in (d["what"], d.get("drug") or "", d.get("detail") or "") if x)},
             "subject": subject, "encounter": encounter, "performedDateTime": _time(iv.t_device)})
    out = {"resourceType": "Bundle", "type": "collection", "timestamp": _time(r.generated),
           "entry": [{"fullUrl": f"urn:vitalwatch:{res['resourceType']}/{res['id']}",
                      "resource": res} for res in resources]}
    Bundle.model_validate(out)
    return out
