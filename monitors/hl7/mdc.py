"""The IEEE 11073-10101 (MDC) codes and units a PCD-01 feed is read with.

A code is the 32-bit context-free code (partition << 16 | term code), as PCD-01 puts it in
OBX-3, with its reference id (``MDC_…``) beside it. Codes were checked against the term codes the
IntelliVue parser reads (``monitors/devices/intellivue.py``: the same nomenclature, partition 2),
and the cuff codes both as ``MDC_PRESS_BLD_NONINV_*`` (150021–150023) and ``MDC_PRESS_CUFF_*``
(150301–150303), which devices in the field use for the same readings.
"""

from __future__ import annotations

from typing import Literal, NamedTuple


class Code(NamedTuple):
    kind: Literal["numeric", "nibp", "known"]
    name: str  # a protocol Param; "sys"/"dia"/"map" for the cuff; for "known", why it is not carried


CODES: dict[str, Code] = {
    "147842": Code("numeric", "HR"),  # MDC_ECG_HEART_RATE
    "149530": Code("numeric", "PR"),  # MDC_PULS_OXIM_PULS_RATE
    "149538": Code("numeric", "PR"),  # MDC_PLETH_PULS_RATE (IntelliVue's pleth pulse)
    "149514": Code("numeric", "PR"),  # MDC_PULS_RATE
    "150456": Code("numeric", "SpO2"),  # MDC_PULS_OXIM_SAT_O2
    "150448": Code("numeric", "PI"),  # MDC_PULS_OXIM_PERF_REL
    "151562": Code("numeric", "RR"),  # MDC_RESP_RATE
    "151570": Code("numeric", "RR"),  # MDC_AWAY_RESP_RATE
    "151586": Code("numeric", "RR"),  # MDC_CO2_RESP_RATE
    "151708": Code("numeric", "EtCO2"),  # MDC_AWAY_CO2_ET
    "151728": Code("numeric", "EtCO2"),  # MDC_CONC_AWAY_CO2_ET
    "150344": Code("numeric", "TEMP"),  # MDC_TEMP
    "150364": Code("numeric", "TEMP"),  # MDC_TEMP_BODY
    "150368": Code("numeric", "TEMP"),  # MDC_TEMP_CORE
    "150021": Code("nibp", "sys"),  # MDC_PRESS_BLD_NONINV_SYS
    "150022": Code("nibp", "dia"),  # MDC_PRESS_BLD_NONINV_DIA
    "150023": Code("nibp", "map"),  # MDC_PRESS_BLD_NONINV_MEAN
    "150301": Code("nibp", "sys"),  # MDC_PRESS_CUFF_SYS
    "150302": Code("nibp", "dia"),  # MDC_PRESS_CUFF_DIA
    "150303": Code("nibp", "map"),  # MDC_PRESS_CUFF_MEAN
    "150033": Code("numeric", "ABPsys"),  # MDC_PRESS_BLD_ART_SYS
    "150034": Code("numeric", "ABPdia"),  # MDC_PRESS_BLD_ART_DIA
    "150035": Code("numeric", "ABPmean"),  # MDC_PRESS_BLD_ART_MEAN
    "150037": Code("numeric", "ABPsys"),  # MDC_PRESS_BLD_ART_ABP_SYS
    "150038": Code("numeric", "ABPdia"),  # MDC_PRESS_BLD_ART_ABP_DIA
    "150039": Code("numeric", "ABPmean"),  # MDC_PRESS_BLD_ART_ABP_MEAN
    # Read, but with no place in the wire protocol: counted per code like unknown ones.
    "148065": Code("known", "PVC count: no protocol parameter"),  # MDC_ECG_V_P_C_CNT
    "149522": Code("known", "pulse rate from the arterial line: PR is the oximeter's"),  # MDC_BLD_PULS_RATE_INV
    "150045": Code("known", "pulmonary artery pressure: no protocol parameter"),  # MDC_PRESS_BLD_ART_PULM_SYS
    "150046": Code("known", "pulmonary artery pressure: no protocol parameter"),  # MDC_PRESS_BLD_ART_PULM_DIA
    "150047": Code("known", "pulmonary artery pressure: no protocol parameter"),  # MDC_PRESS_BLD_ART_PULM_MEAN
    "150452": Code("known", "pleth samples: PCD-01 sends no sample rate with them"),  # MDC_PULS_OXIM_PLETH
}

# Unit spellings (OBX-6: an MDC unit code, its MDC_DIM_ reference id, or UCUM) -> the unit as
# monitors.protocol.UNITS accepts it.
UNITS: dict[str, str] = {}
for _unit, _spellings in {
    "mmHg": ("266016", "MDC_DIM_MMHG", "mm[Hg]", "mmHg", "mm Hg"),
    "kPa": ("265987", "MDC_DIM_KILO_PASCAL", "kPa"),
    "%": ("262688", "MDC_DIM_PERCENT", "%"),
    "/min": ("264864", "MDC_DIM_BEAT_PER_MIN", "264928", "MDC_DIM_RESP_PER_MIN", "/min", "1/min",
             "{beat}/min", "{beats}/min", "{breath}/min", "{breaths}/min", "{resp}/min", "bpm",
             "min-1"),
    "Cel": ("268192", "MDC_DIM_DEGC", "Cel", "degC", "°C"),
}.items():
    for _spelling in _spellings:
        UNITS[_spelling] = _unit


def unit(spellings: list[str]) -> str | None:
    """The protocol unit the first known of ``spellings`` names (OBX-6's components), or None."""
    for s in spellings:
        if s.strip() in UNITS:
            return UNITS[s.strip()]
    return None


# --- Outbound: the codes vitalwatch names its own parameters with (an alarm's source in PCD-04) --

# Protocol parameter -> (MDC code, reference id): one code per parameter, the first of CODES that
# reads back as it (tests/alerts/test_delivery_pcd04.py holds the two tables together).
PARAM_CODES: dict[str, tuple[str, str]] = {
    "HR": ("147842", "MDC_ECG_HEART_RATE"),
    "PR": ("149530", "MDC_PULS_OXIM_PULS_RATE"),
    "SpO2": ("150456", "MDC_PULS_OXIM_SAT_O2"),
    "PI": ("150448", "MDC_PULS_OXIM_PERF_REL"),
    "RR": ("151562", "MDC_RESP_RATE"),
    "EtCO2": ("151708", "MDC_AWAY_CO2_ET"),
    "TEMP": ("150344", "MDC_TEMP"),
    "SBP": ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
    "DBP": ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
    "MAP": ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
    "ABPsys": ("150033", "MDC_PRESS_BLD_ART_SYS"),
    "ABPdia": ("150034", "MDC_PRESS_BLD_ART_DIA"),
    "ABPmean": ("150035", "MDC_PRESS_BLD_ART_MEAN"),
}
# The cuff's rows as CODES names them, for the reverse check.
NIBP_PARAMS = {"sys": "SBP", "dia": "DBP", "map": "MAP"}

# Protocol unit -> (MDC unit code, reference id). "/min" is a beat rate except for RR.
UNIT_CODES: dict[str, tuple[str, str]] = {
    "mmHg": ("266016", "MDC_DIM_MMHG"),
    "kPa": ("265987", "MDC_DIM_KILO_PASCAL"),
    "%": ("262688", "MDC_DIM_PERCENT"),
    "/min": ("264864", "MDC_DIM_BEAT_PER_MIN"),
    "Cel": ("268192", "MDC_DIM_DEGC"),
}
RESP_RATE_UNIT = ("264928", "MDC_DIM_RESP_PER_MIN")

# The whole patient monitor (an MDS), the source of an alarm that no one parameter is.
MONITOR = ("69965", "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS")
