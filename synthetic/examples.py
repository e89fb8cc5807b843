"""The two worked examples of docs/onboarding.md: exports as two practice-management systems write them.

    python -m synthetic.examples --out data/examples

writes, from a fixed seed, the data files of two export folders (their ``profile.toml`` files are
written by hand, following docs/onboarding.md, and are left alone):

- ``lakeside-2026-q2/sessions.csv``: a spreadsheet-style export. US dates (03/14/2026), pain on a
  0-100 slider, services by name ("Massage 60 min") with two services of one visit in one cell
  ("Massage 30 min; Manual therapy 15 min"), the diagnosis in "Dx", visit kinds, payer names and
  "Female"/"Male" in words, goals as Y/N, a "Room" column that must not come in, no clinic column.
  One small payer ("Church fund") has no payer type the contract knows: its visits stay unmapped.
- ``riverside-2026-q2/sessions.parquet`` and ``rom.parquet``: a dataframe-style export. Native
  dates, numbers and booleans, the contract's vocabularies in upper case or codes (``EVAL``,
  ``COMMERCIAL``, ``L``/``R``, ``PRE``), its own column names (``visit_uid``, ``nrs_pre``...), the
  clinic's case numbers as episodes, function scores and range of motion.

All synthetic: no real patient, clinic or therapist is behind any row, and no value looks like an
identifier. Nothing here touches ``data/sample``.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

SEED = 20260413
LAKESIDE = "lakeside-2026-q2"
RIVERSIDE = "riverside-2026-q2"
START = date(2026, 3, 2)  # a Monday; both exports cover March to June 2026

LAKESIDE_COLUMNS = ["Visit #", "Client", "Provider", "Visit Date", "Visit Kind", "Dx", "Referred By", "Payer",
                    "Services", "Pain Before (0-100)", "Pain After (0-100)", "Age Group", "Gender", "Goals Set",
                    "Weeks Since Onset", "Room"]
LAKESIDE_PAYERS = ["Blue Cross"] * 9 + ["Aetna"] * 6 + ["Medicare"] * 6 + ["Self Pay"] * 5 + ["Tricare"] * 2 \
    + ["Church fund"]
LAKESIDE_CODES = ["M54.50", "M5450", "M54.2", "G44.209", "M79.7", "M79.18"]
LAKESIDE_REFERRALS = ["Physician", "Physician", "Chiropractor", "Self", "Friend", ""]
TREATMENT_SERVICES = ["Massage 30 min", "Massage 60 min", "Massage 30 min; Manual therapy 15 min",
                      "Manual therapy 30 min; Therapeutic exercise 15 min", "Massage 45 min"]
AGE_BANDS = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]


def _pain_course(rng: random.Random, visits: int, start: float) -> list[float]:
    """Pain before each visit: a noisy fall from ``start`` for most patients, flat for some."""
    responder = rng.random() < 0.65
    out = []
    for k in range(visits):
        drop = (0.45 if responder else 0.08) * start * (1 - 0.82 ** k)
        out.append(max(0.0, min(10.0, start - drop + rng.uniform(-0.6, 0.6))))
    return out


def lakeside_rows(rng: random.Random) -> list[dict[str, str]]:
    """The spreadsheet export: one row per visit, 30 patients."""
    rows = []
    visit_no = 1000
    for p, payer in enumerate(LAKESIDE_PAYERS, 1):
        visits = rng.randint(4, 10)
        first = START + timedelta(days=rng.randint(0, 40))
        pains = _pain_course(rng, visits, rng.uniform(4.5, 8.5))
        sex = rng.choice(["Female", "Female", "Male"])
        age = rng.choice(AGE_BANDS)
        code = rng.choice(LAKESIDE_CODES)
        referral = rng.choice(LAKESIDE_REFERRALS)
        goals = rng.choice(["Y", "Y", "Y", "N", ""])
        weeks = str(rng.choice([2, 4, 6, 8, 12, 26, 52]))
        discharged = rng.random() < 0.5
        pain_recorded = rng.random() < 0.85  # a few therapists rarely fill the slider
        for k in range(visits):
            visit_no += 1
            if k == 0:
                kind, services = "Initial Eval", "Massage 60 min"
            elif discharged and k == visits - 1:
                kind, services = "Discharge", "Massage 30 min"
            elif k == 5:
                kind, services = "Re-eval", "Massage 30 min; Manual therapy 15 min"
            else:
                kind, services = "Follow-up", rng.choice(TREATMENT_SERVICES)
            before = pains[k] if (pain_recorded or k == 0) and rng.random() < 0.85 else None
            after = max(0.0, before - rng.uniform(0.5, 2.5)) if before is not None and rng.random() < 0.7 else None
            rows.append({
                "Visit #": f"LS-V{visit_no}",
                "Client": f"LK-C{p:03d}",
                "Provider": f"LK-T{1 + p % 3}",
                "Visit Date": (first + timedelta(days=7 * k + rng.randint(0, 2))).strftime("%m/%d/%Y"),
                "Visit Kind": kind,
                "Dx": code,
                "Referred By": referral,
                "Payer": payer,
                "Services": services,
                "Pain Before (0-100)": "" if before is None else str(round(before * 10)),
                "Pain After (0-100)": "" if after is None else str(round(after * 10)),
                "Age Group": age,
                "Gender": sex,
                "Goals Set": goals,
                "Weeks Since Onset": weeks,
                "Room": str(rng.randint(1, 4)),
            })
    return rows


RIVERSIDE_CODES = [("M54.2", "NDI", "cervical"), ("M75.01", "QuickDASH", "shoulder"), ("M54.50", "ODI", "lumbar"),
                   ("M75.41", "QuickDASH", "shoulder")]
RIVERSIDE_PAYERS = ["COMMERCIAL"] * 12 + ["MEDICARE"] * 8 + ["WORKERS_COMP"] * 4 + ["SELF_PAY"] * 4
ROM_MOVES = {"cervical": [("rotation", 80.0), ("flexion", 50.0)], "shoulder": [("abduction", 180.0), ("flexion", 180.0)],
             "lumbar": [("flexion", 60.0)]}
SCORE_START = {"NDI": (18.0, 34.0), "QuickDASH": (35.0, 65.0), "ODI": (30.0, 55.0)}


def riverside_frames(rng: random.Random) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dataframe export: sessions and ROM, 28 patients, native types."""
    sessions = []
    rom = []
    visit = 5000
    for p, payer in enumerate(RIVERSIDE_PAYERS, 1):
        code, instrument, joint = rng.choice(RIVERSIDE_CODES)
        visits = rng.randint(5, 11)
        first = START + timedelta(days=rng.randint(0, 45))
        pains = _pain_course(rng, visits, rng.uniform(4.0, 8.0))
        low, high = SCORE_START[instrument]
        score = rng.uniform(low, high)
        authorized = rng.choice([8, 10, 12]) if payer in ("MEDICARE", "WORKERS_COMP") else None
        side = "NA" if joint != "shoulder" else rng.choice(["L", "R"])
        age, sex, weeks = rng.choice(AGE_BANDS), rng.choice(["F", "M"]), float(rng.choice([3, 6, 10, 20, 40]))
        baseline_rom = {m: normal * rng.uniform(0.5, 0.8) for m, normal in ROM_MOVES[joint]}
        for k in range(visits):
            visit += 1
            if k == 0:
                kind = "EVAL"
            elif k == visits - 1 and rng.random() < 0.6:
                kind = "DC"
            elif k % 4 == 0:
                kind = "REEVAL"
            else:
                kind = "TX"
            minutes = rng.choice([30, 45, 60])
            before = round(pains[k] * 2) / 2 if rng.random() < 0.9 else None
            after = round(max(0.0, before - rng.uniform(0.5, 2.0)) * 2) / 2 if before is not None else None
            scored = kind in ("EVAL", "REEVAL", "DC")
            if scored and k:
                score *= rng.uniform(0.6, 0.95)
            sessions.append({
                "visit_uid": f"RV-{visit}",
                "site": "riverside",
                "client_ref": f"RV-C{p:03d}",
                "case_ref": f"RV-E{p:03d}",
                "clinician": f"RV-T{1 + p % 4}",
                "visit_dt": first + timedelta(days=7 * k),
                "appointment_type": kind,
                "icd10": code,
                "referral": rng.choice(["physician", "physician", "physical_therapist", "self"]) if k == 0 else None,
                "payer_category": payer,
                "cpt": "97140" if k % 2 else "97124",
                "billed_units": (minutes + 7) // 15,
                "minutes": minutes,
                "techniques_used": rng.choice(["myofascial_release;trigger_point", "myofascial_release",
                                               "deep_tissue;stretching", "trigger_point"]),
                "nrs_pre": before,
                "nrs_post": after,
                "outcome_instrument": instrument if scored else None,
                "outcome_score": round(score, 1) if scored else None,
                "age_range": age,
                "sex": sex,
                "weeks_symptomatic": weeks,
                "goals_on_file": k == 0 or rng.random() < 0.3,
                "auth_visits": authorized,
            })
            if kind in ("EVAL", "REEVAL", "DC"):
                for movement, normal in ROM_MOVES[joint]:
                    value = min(normal * 1.05, baseline_rom[movement] * (1 + 0.06 * k) + rng.uniform(-3, 3))
                    rom.append({"visit_uid": f"RV-{visit}", "site": "riverside", "body_region": joint,
                                "motion": movement, "laterality": side, "phase": "PRE", "degrees": round(value, 1)})
                    if rng.random() < 0.5:
                        rom.append({"visit_uid": f"RV-{visit}", "site": "riverside", "body_region": joint,
                                    "motion": movement, "laterality": side, "phase": "POST",
                                    "degrees": round(min(normal * 1.05, value + rng.uniform(1, 6)), 1)})
    frame = pd.DataFrame(sessions)
    frame["auth_visits"] = frame["auth_visits"].astype("Int64")  # a nullable integer column, as dataframes write it
    frame["visit_dt"] = pd.to_datetime(frame["visit_dt"]).dt.date
    return frame, pd.DataFrame(rom)


def write_examples(out: Path, seed: int = SEED) -> list[Path]:
    """Write the data files of both examples under ``out`` (profiles are left as they are); returns the files."""
    rng = random.Random(seed)
    lakeside = out / LAKESIDE
    lakeside.mkdir(parents=True, exist_ok=True)
    with open(lakeside / "sessions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LAKESIDE_COLUMNS)
        writer.writeheader()
        writer.writerows(lakeside_rows(rng))
    riverside = out / RIVERSIDE
    riverside.mkdir(parents=True, exist_ok=True)
    sessions, rom = riverside_frames(rng)
    sessions.to_parquet(riverside / "sessions.parquet", index=False)
    rom.to_parquet(riverside / "rom.parquet", index=False)
    return [lakeside / "sessions.csv", riverside / "sessions.parquet", riverside / "rom.parquet"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m synthetic.examples --out data/examples``."""
    parser = argparse.ArgumentParser(prog="python -m synthetic.examples", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/examples"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.out.resolve() == (Path(__file__).resolve().parents[1] / "data" / "sample").resolve():
        parser.error("the examples never go to data/sample")
    for path in write_examples(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
