"""Every clinical number the simulator uses, in one table a reviewer can check line by line.

The source is ``shared/docs/clinical-basis.md`` §4 ("Simulator parameters"), with §2 for the
published ranges and §1/§3 for the session timeline. Each entry names its place in that document.
Entries tagged ``[D]`` are engineering defaults with no clinical source: choices made here so the
model is complete, to be reviewed like the ``[D]`` entries of the document itself.

Nothing clinical is written anywhere else in the package: the other modules take their numbers
from here, so changing a number here changes the simulator and nothing else needs editing.
Units: mmHg, /min, %, minutes for time courses, seconds for device timings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Normal:
    """A normal distribution, optionally clipped to [low, high]."""

    mean: float
    sd: float
    low: float = float("-inf")
    high: float = float("inf")


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


# --- Patient baseline (per patient) ---------------------------------------------------------
# §4 table, column "baseline (per patient)". Clip bounds beyond the document's are [D]: they keep
# a drawn patient inside what a clinic would dose at all (§3 G2: no dosing with HR < 50, SpO2 < 92).
BASELINE: dict[str, Normal] = {
    "SBP": Normal(125, 15, 95, 175),  # §4; the clip applies after the hypertensive offset
    "DBP": Normal(78, 10, 50, 110),  # §4; clip [D]
    "HR": Normal(75, 12, 50, 115),  # §4; clip [D]
    "RR": Normal(14, 3, 8, 24),  # §4; clip [D]
    "SpO2": Normal(97.5, 1.2, 93, 100),  # §4 "max 100"; lower clip [D]
    "EtCO2": Normal(38, 3, 30, 46),  # §4; clip [D]
}
HYPERTENSIVE_FRACTION = 0.36  # §4 "36 % hypertensive"
HYPERTENSIVE_SBP_OFFSET = 12.0  # §4 "(+12)", systolic only as written
SBP_DBP_CORRELATION = 0.6  # [D] between-patient correlation of baseline SBP and DBP
MIN_PULSE_PRESSURE = 25.0  # [D] baseline DBP is kept at least this far below SBP
AGE = Normal(42, 13, 18, 80)  # [D] adult ketamine-clinic population; §4 gives none
# Who is dosed at all: §3 G1 makes a prescriber sign off a resting BP above 140/90 before dosing,
# and most such patients are treated or rescheduled first. A drawn patient whose true resting BP
# is above these limits is dosed with probability DOSED_ABOVE_GATE, else drawn again [D,
# calibrated to §2: without the gate the §4 baseline tail alone put cuff SBP ≥ 180 in 6–7 % of IV
# sessions against "about 1 %", and esketamine DBP ≥ 110 in 10 % against 4 %; with it, 1.0 %
# and 3.3 % over 2,000 seeded sessions each (docs/simulator.md)].
DOSING_GATE = {"SBP": 140.0, "DBP": 90.0}  # §3 G1 limits
DOSED_ABOVE_GATE = 0.05  # [D] calibrated as above

# --- Drug effect: peak change from baseline, per route --------------------------------------
# §4 table, columns "IV ketamine peak change" and "esketamine peak change". One draw per patient
# and session; the time course below scales it.
PEAK_CHANGE: dict[str, dict[str, Normal | Uniform]] = {
    "iv": {
        "SBP": Normal(12, 10),  # §4
        "DBP": Normal(8, 7),  # §4
        "HR": Normal(4, 6),  # §4
        "RR": Uniform(0, 2),  # §4 "0 to +2"
    },
    "esketamine": {
        # §4 gives SD 12; SD 19 [D, calibrated to §2 "a rise ≥ 40 systolic or ≥ 25 diastolic in
        # 8–19 %" and "SBP ≥ 180 in 3 %": with SD 12 the rise came out at ~6 %, with 19 at ~11 %].
        "SBP": Normal(13, 19),
        "DBP": Normal(9, 8),  # §4
        "HR": Normal(5, 7),  # §4 [D]
        "RR": Uniform(0, 0),  # §4 "0"; sedation below lowers it
    },
}
IV_RISK_AGE = 50  # §4: SBP rise ×1.4 "if age ≥ 50 or hypertensive" [D]
IV_RISK_MULTIPLIER = 1.4  # §4 [D]; applied to the systolic rise only, as written
ESKETAMINE_OLD_AGE = 65  # §4 "+16 if ≥ 65"
ESKETAMINE_OLD_SBP_MEAN = 16.0  # §4
RISE_CORRELATION = 0.7  # [D] a patient whose SBP rises a lot also has a larger DBP rise
# Routes without their own column in §4, scaled from the IV draw:
ROUTE_SIZE = {"iv": 1.0, "im": 1.0, "sublingual": 0.5, "esketamine": 1.0}  # §4 SL "about half
# the IV size [D]"; IM size not given, taken as IV [D]

# --- Time course of the effect (minutes from the dose) --------------------------------------
# §4 "Time course (one effect curve scales every vital)". The curve is an S-shaped rise from
# `onset` to `peak`, then an exponential decay with `half_life`. Ranges are drawn per patient.


@dataclass(frozen=True)
class Course:
    onset: float
    peak: Normal | Uniform | float
    half_life: Normal | Uniform | float
    prolonged_fraction: float = 0.0
    prolonged_half_life: float = 0.0


COURSE: dict[str, Course] = {
    # §4 IV: "S-shaped rise from 5 min to a peak at 35–40 min, then decay (half-life ~25 min);
    # baseline 60–90 min after the infusion ends". 22–28 puts 90 % of the way back at 108–133 min.
    "iv": Course(onset=5, peak=Uniform(35, 40), half_life=Uniform(22, 28)),
    # §4 esketamine: "onset ~15 min, peak 40 min, mean back to BL by 90 min, 10 % stay raised up
    # to 4 h". Half-life 12 brings the mean curve (prolonged patients included) within 10 % of
    # its peak by ~90 min; a half-life of 60 keeps 10 % of the rise at 4 h.
    "esketamine": Course(onset=15, peak=40.0, half_life=12.0, prolonged_fraction=0.10,
                         prolonged_half_life=60.0),
    # §4 IM: "peak at 10–20 min, effect < 1 h": half-life 12 is 90 % gone by 50–60 min. Onset [D].
    "im": Course(onset=2, peak=Uniform(10, 20), half_life=12.0),
    # §4 SL: "peak ~45 min (15–60)". Onset and half-life [D], half-life as IV.
    "sublingual": Course(onset=5, peak=Normal(45, 10, 15, 60), half_life=25.0),
}
ESKETAMINE_DEVICES_MIN = (0.0, 5.0, 10.0)  # §1: nasal devices at 0/5/10 min
IV_INFUSION_MIN = 40.0  # §1, §2: 0.5 mg/kg over 40 min
# §4 esketamine: "plus a pre-dose anxiety rise of about +5/+4". Held until the dose, then fading
# with this half-life [D] while the drug effect takes over.
ANXIETY = {"SBP": 5.0, "DBP": 4.0}
ANXIETY_HALF_LIFE = 20.0  # [D]

# --- Sedation (§2 "Other") ------------------------------------------------------------------
SEDATION_FRACTION = 0.5  # §2 "sedation in about half of patients"
SEDATION_COURSE = (15.0, 37.5, 75.0)  # §2 onset 15, peak 30–45, gone by 60–90 min
SEDATION_RR = Uniform(-2, -1)  # §4 esketamine RR "−1 to −2 if sedated"

# --- Other effects in the random scenario (§2 "Other", §2 "Breathing") ----------------------
VOMITING_FRACTION = 0.14  # §2 vomiting 12–16 %
VOMITING_WINDOW_MIN = (35.0, 58.0)  # §4 scenario 6 "at 35–60 min"
AIRWAY_EVENT_FRACTION = 0.02  # §2 "< 3 %" with SpO2 < 93 twice [D: 2 %]
AIRWAY_EVENT_WINDOW_MIN = (20.0, 45.0)  # [D] around the deepest sedation (§2 peak 30–45)
VASOVAGAL_FRACTION = 0.02  # [D] no figure in the clinical basis

# --- Physiological variability ----------------------------------------------------------------
HR_NOISE_SD = 2.0  # §4 HR "1 Hz, SD 2"
HR_NOISE_TAU_S = 3.0  # [D] correlation time of that noise
RSA_AMPLITUDE = 3.0  # §4 "±3/min respiratory sinus arrhythmia" [D]
BREATH_INTERVAL_CV = 0.10  # [D] breath-to-breath variability; with RR_NOISE gives §4 "±1.5"
RR_NOISE_SD = 1.0  # [D] slow RR variation
RR_NOISE_TAU_S = 60.0  # [D]
BEAT_JITTER_CV = 0.01  # [D] beat-to-beat timing scatter on top of the HR noise
ETCO2_NOISE_SD = 1.0  # [D] slow part of §4 EtCO2 "±1.5"
ETCO2_NOISE_TAU_S = 120.0  # [D]
ETCO2_BREATH_SD = 1.0  # [D] breath-to-breath part of §4 EtCO2 "±1.5"
DRIFT_SD = {"SBP": 2.0, "DBP": 1.5, "HR": 2.0}  # [D] slow drift, not in §4
DRIFT_TAU_S = 600.0  # [D] one knot of drift every 10 min
PULSE_TRANSIT_S = 0.25  # [D] R wave to pulse arrival at the finger

# --- Devices (§4 "NIBP cuff", §4 SpO2 row) ---------------------------------------------------
NIBP_EARLY_INTERVAL_MIN = 5.0  # §4 "every 5 min from dose to 60 min"
NIBP_EARLY_UNTIL_MIN = 60.0  # §4
NIBP_LATE_INTERVAL_MIN = 15.0  # §4 "then every 15 min"
NIBP_PREDOSE_MIN = (-4.5, -2.0)  # §1 "BP twice" before the dose; the times are [D]
NIBP_DURATION_S = Uniform(25, 45)  # §4 "25–45 s [U]"
NIBP_FAILED_DURATION_S = Uniform(40, 90)  # [D] a failed attempt runs longer before it aborts
NIBP_MAX_S = 180.0  # §4 "maximum 180 s"
NIBP_MIN_GAP_S = 30.0  # §4 "at least 30 s between readings"
NIBP_FAIL_REST = 0.03  # §4 "~3 % at rest" [D]
NIBP_FAIL_MOTION = 0.25  # §4 "~25 % during movement" [D]
NIBP_MIN_HR = 40.0  # §4 "no reading possible with HR < 40"
NIBP_RETRY_AFTER_S = 30.0  # §3 T2 "one automatic retry after 30 s"
NIBP_ERROR_SD = {"SBP": 5.0, "DBP": 5.0, "MAP": 3.0}  # §4 "per-reading error N(0, 5)"; MAP [D]
CUFF_OCCLUSION_S = (4.0, 34.0)  # §4 "pleth is lost for ~30 s" while inflating; offsets [D]
SAME_ARM_FRACTION = 0.5  # [D] SpO2 probe on the cuff arm

SPO2_AVERAGING_S = (4, 8, 12, 16)  # §4 "4–16 s averaging": the device settings drawn from
SPO2_NOISE_SD = 0.5  # §4 SpO2 noise "SD 0.5"
SPO2_HOLD_S = 10.0  # [D] a lost pulse keeps the last value this long, then "no value"
SPO2_ACQUIRE_S = 6.0  # [D] seconds from a pulse found again to a value shown
HR_AVERAGE_BEATS = 4  # [D] ECG heart rate over the last 4 beats
PR_AVERAGE_BEATS = 8  # [D] oximeter pulse rate over the last 8 pulses
RR_AVERAGE_BREATHS = 4  # [D] capnograph rate over the last 4 breaths
APNEA_TIMEOUT_S = 20.0  # [D] capnograph shows RR 0 / EtCO2 0 after this long without a breath
ECG_ACQUIRE_S = 2.0  # [D] seconds from a lead back on to a heart rate shown

# --- Artifacts (§4 "Artifacts") -------------------------------------------------------------
MOTION_PER_HOUR = (0, 3)  # §4 "0–3 an hour" [D]
MOTION_DURATION_S = Uniform(5, 30)  # §4 "bursts of 5–30 s"
MOTION_FALSE_SPO2 = Uniform(75, 88)  # §4 "false SpO2 75–88"
MOTION_PR_JUMP = 30.0  # §4 "pulse-rate jumps of ±30"
MOTION_PR_HOLD_S = 3  # [D] a new false pulse rate every 3 s
MOTION_SPO2_SCATTER = 1.5  # [D] SD of the false SpO2 around the burst's value
RETCHING_BREATH_S = Uniform(1.5, 4.0)  # [D] retching counted as breaths this far apart
RETCHING_CO2 = Uniform(12, 25)  # [D] the little CO2 such a "breath" shows
PROBE_OFF_PER_SESSION = (0, 2)  # §4 "0–2 times a session" [D]
PROBE_OFF_DURATION_MIN = Uniform(0.5, 10)  # §4 "for 0.5–10 min" [D]
LEAD_OFF_FRACTION = 0.10  # [D] sessions with a loose ECG lead
LEAD_OFF_DURATION_S = Uniform(20, 180)  # [D]
CUFF_LEAK_FRACTION = 0.05  # [D] sessions with a loose cuff until it is re-applied
CUFF_LEAK_DURATION_S = Uniform(180, 600)  # [D]
# Not every motion artifact looks like §4's. Some oximeters keep the pulse rate right while the
# SpO2 reads falsely low (an artifact guard that waits for the pulse rate to part from the ECG
# misses it); some show a jumping pulse rate with no motion at all (poor perfusion, a loose clip,
# ambient light), with or without flagging "motion". All fractions [D]:
MOTION_WITHOUT_PR_JUMP_FRACTION = 0.3  # [D] of motion bursts: false SpO2, pulse rate unchanged
MOTION_STATUS_FRACTION = 0.5  # [D] of motion bursts the oximeter flags with status "motion"
PR_JUMPS_PER_HOUR = (0, 2)  # [D] bursts of pulse-rate jumps without motion
PR_JUMP_DURATION_S = Uniform(10, 60)  # [D]
PR_JUMP_STATUS_FRACTION = 0.3  # [D] of those the oximeter (wrongly) flags as "motion"

# --- Ground-truth conditions (§3 rule set) --------------------------------------------------
# A label holds while any of its (vital, comparison, limit) holds on the true physiology; the
# limits are those of the §3 rule named beside it, so a correct alarm engine can be scored on them.
# "BL.X" limits are relative to the patient's true resting value.
TRUTH_CONDITIONS: dict[str, tuple[tuple[str, str, float | str], ...]] = {
    "SBP >= 180": (("SBP", ">=", 180),),  # §3 B3
    "DBP >= 110": (("DBP", ">=", 110),),  # §3 B3
    # §3 B4 "confirmed SBP > 180 / DBP > 120, or any SBP ≥ 200"; "confirmed" on the true
    # pressure is SBP > 180 lasting HYPERTENSIVE_CRISIS_CONFIRM_S (below).
    "hypertensive crisis": (("SBP", ">=", 200), ("DBP", ">", 120)),
    "hypotension": (("SBP", "<", 90), ("MAP", "<", 60)),  # §3 B5
    "severe hypotension": (("SBP", "<", 80),),  # §3 B6 (its absolute part)
    "bradycardia": (("HR", "<", 50),),  # §3 H3
    "severe bradycardia": (("HR", "<", 40),),  # §3 H2
    "tachycardia": (("HR", ">", 120),),  # §3 H1
    "severe tachycardia": (("HR", ">", 150),),  # §3 H2
    "desaturation": (("SpO2", "<", 90),),  # §3 O2
    "severe desaturation": (("SpO2", "<=", 85),),  # §3 O3
    "bradypnea": (("RR", "<", 8),),  # §3 R1
    "hypercapnia": (("EtCO2", ">=", 50), ("EtCO2", ">=", "BL.EtCO2 + 10")),  # §3 C1
    "EtCO2 fall": (("EtCO2", "<=", "BL.EtCO2 - 10"),),  # §3 C1 "a change ≥ 10 mmHg"
}
HYPERTENSIVE_CRISIS_CONFIRM_S = 120.0  # §3 B4 "2 readings ≥ 2 min apart"
APNEA_GAP_S = 15.0  # §3 R2 "no breath detected > 15 s": label "apnea"
TRUTH_MERGE_GAP_S = 15.0  # [D] a condition that lapses for less than this is one interval

# --- The named scenarios (§4 "Scenarios") ----------------------------------------------------
# Patients: age, hypertensive, then true resting SBP, DBP, HR, RR, SpO2, EtCO2. Where §4 gives
# no value, a typical one from the §4 baseline table is used [D].

# 1. typical responder: "+12/+8 and HR +4 peaking at 38 min; back to BL by 100 min"
TYPICAL_PATIENT = (38, False, {"SBP": 122, "DBP": 76, "HR": 72, "RR": 14, "SpO2": 98, "EtCO2": 37})  # [D]
TYPICAL_RISE = {"SBP": 12.0, "DBP": 8.0, "HR": 4.0, "RR": 1.0}  # §4; RR [D]
TYPICAL_PEAK_MIN = 38.0  # §4
TYPICAL_HALF_LIFE_MIN = 20.0  # [D] leaves < 1.5 mmHg of the rise at 100 min: "back to BL"

# 2. hypertensive surge: "58-year-old, BL 146/92; rises +45/+25 and crosses 180/110 at ~30 min
#    (B3, then B4); after treatment below 160 by 70 min (esketamine variant: raised until 150)"
SURGE_PATIENT = (58, True, {"SBP": 146, "DBP": 92, "HR": 78, "RR": 15, "SpO2": 97, "EtCO2": 38})
SURGE_RISE = {"SBP": 45.0, "DBP": 25.0, "HR": 8.0, "RR": 1.0}  # §4; HR, RR [D]
SURGE_PEAK_MIN = 40.0  # §4 IV peak 35–40; 40 puts the 180 crossing at ~28 min
SURGE_HALF_LIFE_MIN = 25.0  # §4 IV
SURGE_REPEAT_MIN = 32.5  # [D] the nurse's immediate repeat after the first high reading (B3)
SURGE_TREATMENT_MIN = 36.0  # [D] after the 35-min reading confirms it (B4)
SURGE_TREATMENT = {"SBP": -20.0, "DBP": -10.0}  # [D] antihypertensive effect
SURGE_TREATMENT_ONSET_MIN = 15.0  # [D] to full effect
SURGE_ESKETAMINE_HALF_LIFE_MIN = 65.0  # [D] untreated, SBP ≥ 160 until ~150 min

# 3. vasovagal: "at cannulation or first standing: HR 80 → 42 and SBP → 78 over 45 s; recovers
#    within 3 min lying down"
VASOVAGAL_PATIENT = (29, False, {"SBP": 118, "DBP": 74, "HR": 80, "RR": 14, "SpO2": 98, "EtCO2": 37})
VASOVAGAL_RISE = {"SBP": 10.0, "DBP": 7.0, "HR": 3.0, "RR": 1.0}  # [D] an ordinary IV response
VASOVAGAL_TO = {"HR": 42.0, "SBP": 78.0, "DBP": 46.0}  # §4; DBP [D]
VASOVAGAL_FALL_S = 45.0  # §4
VASOVAGAL_NADIR_S = 30.0  # [D]
VASOVAGAL_RECOVERY_S = 150.0  # [D] nadir + recovery = 3 min (§4 "within 3 min")
VASOVAGAL_BEFORE_DOSE_MIN = 9.0  # [D] cannulation during check-in
VASOVAGAL_MANUAL_NIBP_S = 30.0  # [D] the nurse starts a cuff reading

# 4. airway obstruction / oversedation: "capnogram lost or RR 4; SpO2 falls 97 → 84 over 90 s,
#    starting ~60 s after the breathing change; HR +15; recovers within 60 s of a jaw thrust"
AIRWAY_PATIENT = (52, False, {"SBP": 128, "DBP": 80, "HR": 76, "RR": 14, "SpO2": 97, "EtCO2": 38})
AIRWAY_RISE = {"SBP": 12.0, "DBP": 8.0, "HR": 4.0, "RR": 0.0}  # [D] an ordinary IV response
AIRWAY_AT_MIN = 32.0  # [D] when sedation is deepest (§2 peak 30–45)
AIRWAY_SPO2_DELAY_S = 60.0  # §4
AIRWAY_SPO2_FALL_S = 90.0  # §4
AIRWAY_SPO2_TO = 84.0  # §4
AIRWAY_HR_RISE = 15.0  # §4
AIRWAY_JAW_THRUST_S = 165.0  # [D] after the breathing change: once SpO2 has reached 84
AIRWAY_CIRCULATION_S = 10.0  # [D] lung to finger: SpO2 turns this long after breathing does
AIRWAY_SPO2_RECOVERY_S = 40.0  # [D] back within 60 s of the jaw thrust (§4)
AIRWAY_RR_TO = 4.0  # §4 "RR 4"
AIRWAY_ETCO2_TO = 55.0  # [D] hypoventilation raises EtCO2 above the §3 C1 limit of 50

# 5. sensor disconnect: "probe pulled off at 25 min, SpO2/pulse show 'no value' for 4 min"
SENSOR_PATIENT = (45, False, {"SBP": 124, "DBP": 78, "HR": 74, "RR": 14, "SpO2": 98, "EtCO2": 37})
SENSOR_RISE = {"SBP": 11.0, "DBP": 7.0, "HR": 4.0, "RR": 1.0}  # [D]
SENSOR_PROBE_OFF_MIN = (25.0, 29.0)  # §4

# 6. vomiting / movement at 35–60 min: "real HR +15 and SBP +15 for 2 min, plus artifacts: false
#    SpO2 in the 80s, pulse-rate spikes, two failed NIBP readings then a retry, false RR"
VOMITING_PATIENT = (34, False, {"SBP": 120, "DBP": 76, "HR": 74, "RR": 15, "SpO2": 98, "EtCO2": 37})
VOMITING_RISE = {"SBP": 12.0, "DBP": 8.0, "HR": 4.0, "RR": 1.0}  # [D]
VOMITING_CHANGE = {"HR": 15.0, "SBP": 15.0, "DBP": 8.0}  # §4; DBP [D]
VOMITING_S = 120.0  # §4 "for 2 min"
VOMITING_MOVING_S = 180.0  # [D] the patient settles a minute after
VOMITING_FALSE_SPO2 = Uniform(80, 89)  # §4 "in the 80s"
VOMITING_READING_MIN = (40, 45, 50, 55)  # [D] the scheduled reading that movement spoils
VOMITING_BEFORE_READING_S = Uniform(10, 30)  # [D]
VOMITING_MANUAL_NIBP_S = 30.0  # [D] after the movement settles, by hand

# --- The failure scenarios (issue 11: classes of cases the alarms must cover) -----------------
# Each is a typical IV session (TYPICAL_PATIENT, TYPICAL_RISE) with one failure scripted into it;
# every time and size below is [D] unless it names the clinical basis.
FAILURE_AT_MIN = 30.0  # [D] the failure starts 30 min after the dose (near the peak, §1)
# cardiac-arrest: no output from FAILURE_AT_MIN to the end; breathing stops shortly after.
ARREST_BREATHING_STOPS_S = 20.0  # [D] agonal breaths for a few seconds, then none
ECG_NO_BEAT_S = 4.0  # [D] an ECG monitor shows "no value" this long after the last beat
# oximeter-only: the pulse falls to 35 for 3 min
OXIMETER_ONLY_PARAMS = ("PR", "SpO2")  # Masimo/Contec-like room: pulse rate from the oximeter only
OXIMETER_ONLY_HR_TO = 35.0  # issue 11 class 2
OXIMETER_ONLY_HOLD_S = 180.0  # "for 3 min"
OXIMETER_ONLY_FALL_S = 60.0  # [D]
# false-asystole: the ECG reads 0 while the heart beats (a lead picking up no signal)
FALSE_ASYSTOLE_PATIENT = (40, False, {"SBP": 122, "DBP": 76, "HR": 76, "RR": 14, "SpO2": 98, "EtCO2": 37})
FALSE_ASYSTOLE_S = 240.0  # [D] 4 min of ECG HR 0
# desaturation-under-motion: true SpO2 80 % for 6 min, motion throughout
MOTION_DESAT_TO = 80.0  # issue 11 class 4
MOTION_DESAT_HOLD_S = 360.0  # "for 6 minutes"
MOTION_DESAT_FALL_S = 60.0  # [D] to reach 80, and to come back
MOTION_DESAT_MARGIN_S = 60.0  # [D] the motion starts before the desaturation and ends after it
MOTION_DESAT_FALSE_SPO2 = Uniform(78, 86)  # [D] what motion alone would show
# pulse-deficit: atrial fibrillation, ECG ~110 against a pulse of ~80, all session
PULSE_DEFICIT_PATIENT = (66, True, {"SBP": 130, "DBP": 80, "HR": 110, "RR": 15, "SpO2": 97, "EtCO2": 38})
PULSE_DEFICIT_PERFUSED = 80.0 / 110.0  # [D] the fraction of beats that reach the finger
AF_BEAT_JITTER_CV = 0.12  # [D] irregularly irregular beats
PULSE_DEFICIT_DESAT_TO = 84.0  # issue 11 class 4
PULSE_DEFICIT_DESAT_AT_MIN = 40.0  # [D] mid-session
PULSE_DEFICIT_DESAT_S = (90.0, 180.0, 60.0)  # [D] fall, hold, recovery
# flicker: true SpO2 88 for 30 min; a 1-s dropout every 12 s
FLICKER_TO = 88.0  # issue 11 class 5
FLICKER_HOLD_S = 1800.0  # "for 30 minutes"
FLICKER_FALL_S = 60.0  # [D]
FLICKER_AT_MIN = 15.0  # [D]
FLICKER_PERIOD_S = 12  # issue 11 class 5
FLICKER_DROPOUT_S = 1  # issue 11 class 5
# capnogram-loss: the capnogram gone for 2 min, breathing normal
CAPNOGRAM_LOSS_S = 120.0  # issue 11 class 6
# etco2-fall: EtCO2 falls to 20 while breaths are still detected
ETCO2_FALL_TO = 20.0  # issue 11 class 6
ETCO2_FALL_S = (60.0, 300.0, 60.0)  # [D] fall, hold, recovery
# recovery-hypotension: sustained 84/50 in recovery, cuff every 15 min (§1)
RECOVERY_HYPOTENSION_AT_MIN = 62.0  # [D] just after the cycle goes to every 15 min
RECOVERY_HYPOTENSION_TO = {"SBP": 84.0, "DBP": 50.0}  # issue 11 class 7
RECOVERY_HYPOTENSION_FALL_S = 120.0  # [D]
# recovery-crisis: one reading of 196/124 in recovery, none after it
RECOVERY_CRISIS_READING_MIN = 75.0  # [D] the first 15-min reading of recovery
RECOVERY_CRISIS_READING = (196, 124)  # issue 11 class 7
RECOVERY_CRISIS_S = (60.0, 150.0, 60.0)  # [D] a pain or anxiety spike: rise, hold, fall
# missing-baseline: no pre-dose cuff reading
NO_BASELINE_LABEL_S = 300.0  # [D] the label runs from the dose to the first post-dose reading
# hypertensive-baseline: 190/112 before the dose, treated, normal after it
HYPERTENSIVE_BASELINE_PATIENT = (55, True, {"SBP": 190, "DBP": 112, "HR": 80, "RR": 15, "SpO2": 97,
                                            "EtCO2": 38})
HYPERTENSIVE_BASELINE_TREATED_TO = {"SBP": 132.0, "DBP": 82.0}  # [D] normal readings after the dose
HYPERTENSIVE_BASELINE_TREATMENT_MIN = -1.0  # [D] an antihypertensive just before the dose
HYPERTENSIVE_BASELINE_FALL_S = 240.0  # [D] to the treated pressure

# --- The check-in room (checkin.py) ------------------------------------------------------------
# A patient waiting to be dosed, for the demo's walk-through: the surge scenario's patient at rest
# (BL 146/92: above G1's 140/90, the borderline reading a prescriber signs off, below B1's 160/100
# and G2's 180/110), and the cuff in the short cycle a nurse sets for check-in [D].
CHECKIN_PATIENT_SCENARIO = "hypertensive-surge"
CHECKIN_BP = {"SBP": 146.0, "DBP": 92.0}  # §4 scenario 2's baseline
CHECKIN_CUFF_EVERY_S = 60.0  # [D] a monitor's 1-min interval mode
