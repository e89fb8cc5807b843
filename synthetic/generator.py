"""Deterministic synthetic session exports (export-format.md) from one clinical model.

The same vectorised model drives both modes:

* :func:`generate_sample` writes the committed sample inbox ``data/sample``: three clinics,
  February to August 2026, CSV and Parquet exports, with a handful of deliberately bad rows,
  one corrected export and one export that must be rejected whole (``docs/sample-data.md``).
* :func:`generate_bench` writes an inbox of any size (one export per clinic and month),
  block by block, so memory stays bounded however many sessions are asked for.

The model, per episode of care: a condition group and an ICD-10-CM code, a patient (age band,
sex, symptom duration), a payer and referral, a planned course (visits, frequency), early
drop-out or discharge, a baseline NRS pain score that drifts down at a condition-dependent speed
(or plateaus), an immediate within-session drop that is gone by the next visit, a function
instrument scored at evaluation, re-evaluation and discharge, and range of motion below normal
that improves by a few noisy degrees. Parameters follow ``domain-reference.md`` section 5.
Billing and documentation habits give every payer audit flag of metrics.md section 8 its cases:
over-billed days (some visits are billed as two timed rows), authorisations that run out, plans
of care not re-evaluated, care continued after relief, visits without measures.

Determinism: every draw comes from a :class:`numpy.random.Generator` seeded from the seed and
the clinic/block numbers, in a fixed order; files are written by pyarrow without timestamps.
The same seed (and pyarrow version, which Parquet records in ``created_by``) therefore gives
byte-identical files. Dates are fixed (never derived from today's date).

Vocabularies come from :mod:`transforms.contract`; condition groups, ROM normals and instrument
ranges from :mod:`transforms.reference`. The clinical model below is checked against them on
first use (:func:`model`), so it cannot drift from the contract.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from transforms import contract
from transforms.reference import condition_groups, instruments, rom_normals
from transforms.staging import condition_groups_of, normalise_codes

FORMATS = ("parquet", "csv")
SAMPLE_SEED = 20260301
BENCH_SEED = 1
# Synthetic data never reaches past this day, whatever the window asked for: the pipeline
# quarantines future dates, and the project's reference "today" is 2026-11-23.
LATEST_DAY = "2026-10-31"

# ---------------------------------------------------------------------------------------------
# The clinical model
# ---------------------------------------------------------------------------------------------

# How a code's laterality becomes ROM sides: one fixed side, both sides, a random side, or none.
SIDE_KINDS = ("left", "right", "both", "any", "na")
_LEFT, _RIGHT, _BOTH, _ANY, _NA = range(len(SIDE_KINDS))

# Age-band profiles (shares over contract.AGE_BANDS).
ADULT = (0.01, 0.10, 0.17, 0.20, 0.21, 0.16, 0.10, 0.04, 0.01)
YOUNG = (0.03, 0.22, 0.26, 0.21, 0.14, 0.08, 0.05, 0.01, 0.00)
MIDLIFE = (0.00, 0.05, 0.14, 0.26, 0.28, 0.17, 0.08, 0.02, 0.00)
OLDER = (0.00, 0.01, 0.04, 0.09, 0.19, 0.29, 0.25, 0.11, 0.02)

LUMBAR = (("lumbar", "flexion"), ("lumbar", "extension"), ("lumbar", "lateral_flexion"))
SHOULDER = (("shoulder", "flexion"), ("shoulder", "abduction"), ("shoulder", "internal_rotation"),
            ("shoulder", "external_rotation"))
CERVICAL = (("cervical", "flexion"), ("cervical", "extension"), ("cervical", "lateral_flexion"), ("cervical", "rotation"))


@dataclass(frozen=True)
class Variant:
    """One presentation of a condition: its codes, function instruments and ROM measurements.

    ``codes`` are (ICD-10-CM code, side kind of :data:`SIDE_KINDS`, relative weight);
    ``instruments`` are (instrument, share of episodes); ``rom`` are (joint, movement) pairs.
    """

    codes: tuple[tuple[str, str, float], ...]
    instruments: tuple[tuple[str, float], ...] = ()
    rom: tuple[tuple[str, str], ...] = ()
    weight: float = 1.0


@dataclass(frozen=True)
class Condition:
    """Model parameters of one condition group (metrics.md section 1)."""

    group: str
    share: float  # share of new episodes in a typical clinic
    variants: tuple[Variant, ...]
    pain: float = 5.5  # mean baseline NRS (SD 1.8)
    relief: float = 0.36  # mean fraction of baseline pain relieved by a full course
    tau: float = 3.5  # visits to reach ~63% of the eventual relief
    course: float = 8.0  # typical planned number of visits
    per_week: float = 1.0  # typical visits per week
    female: float = 0.62
    age: tuple[float, ...] = ADULT
    acute: bool = False  # symptom duration of weeks rather than months
    rom_level: float = 0.80  # baseline ROM as a fraction of normal
    rom_gain: float = 0.06  # ROM gained over a full course, as a fraction of normal
    techniques: tuple[tuple[str, float], ...] = ()  # multipliers on BASE_TECHNIQUES
    payers: tuple[tuple[str, float], ...] = ()  # multipliers on PAYER_SHARE


def _v(*codes: tuple[str, str, float], inst: tuple[tuple[str, float], ...] = (),
       rom: tuple[tuple[str, str], ...] = (), weight: float = 1.0) -> Variant:
    return Variant(codes, inst, rom, weight)


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "low_back_pain", 0.20,
        (_v(("M54.50", "na", 6), ("M54.59", "na", 3), ("M54.51", "na", 1), inst=(("ODI", 0.75), ("PSFS", 0.25)),
            rom=LUMBAR),),
        pain=5.6, relief=0.42, tau=3.5, course=8, female=0.58, rom_level=0.72, rom_gain=0.08,
        techniques=(("deep_tissue", 1.6), ("myofascial_release", 1.4), ("trigger_point", 1.3)),
    ),
    Condition(
        "sciatica", 0.06,
        (_v(("M54.30", "na", 1), ("M54.31", "na", 2), ("M54.32", "na", 2), ("M54.40", "na", 1), ("M54.41", "na", 2),
            ("M54.42", "na", 2), inst=(("ODI", 0.7), ("LEFS", 0.3)), rom=LUMBAR[:2]),),
        pain=6.0, relief=0.34, tau=4.0, course=9, female=0.52, age=MIDLIFE, rom_level=0.65, rom_gain=0.07,
        techniques=(("neuromuscular", 1.5), ("myofascial_release", 1.4)),
    ),
    Condition(
        "neck_pain", 0.14,
        (_v(("M54.2", "na", 1), inst=(("NDI", 1.0),), rom=CERVICAL),),
        pain=5.4, relief=0.44, tau=3.0, course=9, per_week=2.0, female=0.68, rom_level=0.78, rom_gain=0.07,
        techniques=(("trigger_point", 1.8), ("myofascial_release", 1.3), ("stretching", 1.3)),
    ),
    Condition(
        "thoracic_pain", 0.03,
        (_v(("M54.6", "na", 1), inst=(("PSFS", 1.0),), rom=(("thoracic", "rotation"),)),),
        pain=4.9, relief=0.44, tau=3.0, course=7, female=0.60, rom_level=0.75, rom_gain=0.08,
    ),
    Condition(
        "tension_headache", 0.06,
        (_v(("G44.209", "na", 3), ("G44.219", "na", 2), ("G44.229", "na", 2), inst=(("HIT6", 1.0),),
            rom=(("cervical", "flexion"), ("cervical", "extension"), ("cervical", "rotation"))),),
        pain=5.2, relief=0.49, tau=2.5, course=8, per_week=1.5, female=0.72, age=YOUNG, rom_level=0.85,
        rom_gain=0.05, techniques=(("trigger_point", 2.5), ("neuromuscular", 1.5)),
    ),
    Condition(
        "migraine", 0.03,
        (_v(("G43.909", "na", 3), ("G43.009", "na", 2), ("G43.109", "na", 1), inst=(("HIT6", 1.0),),
            rom=(("cervical", "rotation"),)),),
        pain=6.2, relief=0.32, tau=4.0, course=8, female=0.78, age=YOUNG, rom_level=0.90, rom_gain=0.03,
        techniques=(("swedish", 1.6), ("trigger_point", 1.3), ("deep_tissue", 0.5)),
    ),
    Condition(
        "frozen_shoulder", 0.03,
        (_v(("M75.01", "right", 2), ("M75.02", "left", 2), ("M75.00", "any", 1), inst=(("QuickDASH", 1.0),),
            rom=(("shoulder", "flexion"), ("shoulder", "abduction"), ("shoulder", "external_rotation"))),),
        pain=5.8, relief=0.36, tau=5.5, course=12, per_week=1.5, female=0.65, age=MIDLIFE, rom_level=0.55,
        rom_gain=0.09, techniques=(("myofascial_release", 1.6), ("pnf", 3.0), ("stretching", 2.0)),
    ),
    Condition(
        "shoulder_impingement", 0.06,
        (
            _v(("M75.41", "right", 3), ("M75.42", "left", 2), ("M75.40", "any", 1), inst=(("QuickDASH", 1.0),),
               rom=SHOULDER, weight=3),
            _v(("M75.101", "right", 1), ("M75.102", "left", 1), inst=(("QuickDASH", 1.0),), rom=SHOULDER),
            _v(("M75.51", "right", 1), ("M75.52", "left", 1), inst=(("QuickDASH", 1.0),), rom=SHOULDER),
        ),
        pain=5.3, relief=0.40, tau=3.5, course=8, female=0.48, rom_level=0.82, rom_gain=0.06,
        techniques=(("myofascial_release", 1.5), ("pnf", 2.0), ("instrument_assisted", 1.5)),
    ),
    Condition(
        "fibromyalgia", 0.05,
        (_v(("M79.7", "na", 1), inst=(("FIQR", 1.0),)),),
        pain=6.6, relief=0.30, tau=6.0, course=12, female=0.88, age=MIDLIFE,
        techniques=(("swedish", 2.5), ("lymphatic_drainage", 2.0), ("deep_tissue", 0.3)),
        payers=(("self_pay", 1.3), ("fsa_hsa", 1.3)),
    ),
    Condition(
        "myofascial_pain", 0.06,
        (_v(("M79.10", "na", 2), ("M79.12", "na", 2), ("M79.18", "na", 2), ("M79.11", "na", 1),
            inst=(("PSFS", 1.0),)),),
        pain=5.4, relief=0.46, tau=2.5, course=7, female=0.62,
        techniques=(("trigger_point", 2.5), ("myofascial_release", 2.0), ("cupping", 2.5)),
    ),
    Condition(
        "tmj_disorder", 0.03,
        (_v(("M26.609", "na", 2), ("M26.601", "na", 1), ("M26.602", "na", 1), ("M26.603", "na", 1),
            ("M26.621", "na", 1), ("M26.622", "na", 1), ("M26.623", "na", 1), ("M26.631", "na", 1),
            inst=(("JFLS", 1.0),), rom=(("tmj", "opening"),)),),
        pain=4.9, relief=0.40, tau=3.0, course=6, female=0.80, age=YOUNG, rom_level=0.72, rom_gain=0.08,
        techniques=(("trigger_point", 2.0), ("myofascial_release", 1.8), ("neuromuscular", 1.5)),
    ),
    Condition(
        "carpal_tunnel", 0.03,
        (_v(("G56.01", "right", 3), ("G56.02", "left", 2), ("G56.03", "both", 1), ("G56.00", "any", 1),
            inst=(("BCTQ", 0.75), ("QuickDASH", 0.25)), rom=(("wrist", "flexion"), ("wrist", "extension"))),),
        pain=4.8, relief=0.34, tau=4.0, course=7, female=0.72, age=MIDLIFE, rom_level=0.88, rom_gain=0.04,
        techniques=(("myofascial_release", 1.8), ("instrument_assisted", 2.0), ("stretching", 1.3)),
    ),
    Condition(
        "plantar_fasciitis", 0.03,
        (_v(("M72.2", "any", 1), inst=(("FFI", 0.7), ("LEFS", 0.3)), rom=(("ankle", "dorsiflexion"),)),),
        pain=5.6, relief=0.42, tau=3.5, course=7, female=0.60, age=MIDLIFE, rom_level=0.60, rom_gain=0.12,
        techniques=(("instrument_assisted", 3.0), ("deep_tissue", 1.3), ("stretching", 1.5)),
    ),
    Condition(
        "whiplash", 0.04,
        (_v(("S13.4XXA", "na", 4), ("S13.4XXD", "na", 1), inst=(("NDI", 1.0),), rom=CERVICAL),),
        pain=6.0, relief=0.46, tau=3.0, course=10, per_week=2.0, female=0.60, acute=True, rom_level=0.70,
        rom_gain=0.10, techniques=(("myofascial_release", 1.5), ("neuromuscular", 1.5)),
        payers=(("auto_pip", 25.0), ("workers_comp", 0.5)),
    ),
    Condition(
        "knee_osteoarthritis", 0.04,
        (_v(("M17.11", "right", 2), ("M17.12", "left", 2), ("M17.0", "both", 2), ("M17.9", "any", 1),
            inst=(("KOOS", 0.8), ("LEFS", 0.2)), rom=(("knee", "flexion"),)),),
        pain=5.8, relief=0.32, tau=4.5, course=8, female=0.62, age=OLDER, rom_level=0.82, rom_gain=0.03,
        techniques=(("swedish", 2.0), ("lymphatic_drainage", 2.0), ("stretching", 1.3)),
    ),
    Condition(
        "tendinopathy", 0.04,
        (
            _v(("M77.11", "right", 3), ("M77.12", "left", 2), ("M77.01", "right", 1), ("M77.02", "left", 1),
               inst=(("QuickDASH", 1.0),), rom=(("wrist", "extension"), ("wrist", "flexion")), weight=2),
            _v(("M76.61", "right", 1), ("M76.62", "left", 1), inst=(("LEFS", 1.0),), rom=(("ankle", "dorsiflexion"),)),
        ),
        pain=5.0, relief=0.44, tau=3.5, course=7, female=0.50, rom_level=0.88, rom_gain=0.05,
        techniques=(("instrument_assisted", 3.0), ("deep_tissue", 1.3), ("myofascial_release", 1.3)),
        payers=(("workers_comp", 2.0),),
    ),
    Condition(
        "post_surgical", 0.03,
        (
            _v(("Z47.1", "any", 1), inst=(("LEFS", 0.7), ("PSFS", 0.3)), rom=(("knee", "flexion"),), weight=2),
            _v(("Z47.1", "any", 1), inst=(("LEFS", 0.7), ("PSFS", 0.3)), rom=(("hip", "flexion"), ("hip", "abduction"))),
            _v(("Z47.89", "any", 1), inst=(("QuickDASH", 0.6), ("PSFS", 0.4)),
               rom=(("shoulder", "flexion"), ("shoulder", "abduction"))),
            _v(("L90.5", "na", 1), inst=(("PSFS", 1.0),)),
            _v(("Z48.89", "na", 1), inst=(("PSFS", 1.0),), weight=0.5),
        ),
        pain=5.2, relief=0.49, tau=3.0, course=10, per_week=2.0, female=0.55, age=OLDER, acute=True,
        rom_level=0.65, rom_gain=0.12,
        techniques=(("lymphatic_drainage", 6.0), ("myofascial_release", 1.5), ("instrument_assisted", 1.5)),
        payers=(("medicare", 1.5), ("commercial", 1.3), ("self_pay", 0.5)),
    ),
    Condition(
        "sprain_strain", 0.04,
        (
            _v(("S39.012A", "na", 1), inst=(("ODI", 1.0),), rom=LUMBAR[:2], weight=2),
            _v(("S16.1XXA", "na", 1), inst=(("NDI", 1.0),), rom=(("cervical", "rotation"), ("cervical", "flexion"))),
            _v(("S93.401A", "right", 1), ("S93.402A", "left", 1), inst=(("LEFS", 1.0),),
               rom=(("ankle", "dorsiflexion"), ("ankle", "plantarflexion")), weight=1.5),
            _v(("S43.401A", "right", 1), ("S43.402A", "left", 1), inst=(("QuickDASH", 1.0),),
               rom=(("shoulder", "flexion"), ("shoulder", "abduction")), weight=0.7),
            _v(("S63.501A", "right", 1), ("S63.502A", "left", 1), inst=(("QuickDASH", 1.0),),
               rom=(("wrist", "flexion"), ("wrist", "extension")), weight=0.7),
            _v(("S29.012A", "na", 1), inst=(("PSFS", 1.0),), rom=(("thoracic", "rotation"),), weight=0.5),
        ),
        pain=5.6, relief=0.54, tau=2.0, course=6, per_week=1.5, female=0.45, age=YOUNG, acute=True,
        rom_level=0.75, rom_gain=0.10, payers=(("workers_comp", 4.0), ("auto_pip", 2.0)),
    ),
    Condition(
        "other", 0.03,
        (
            _v(("M62.830", "na", 1), inst=(("PSFS", 1.0),), weight=2),
            _v(("M65.4", "any", 1), inst=(("QuickDASH", 1.0),),
               rom=(("wrist", "radial_deviation"), ("wrist", "ulnar_deviation"))),
            _v(("M25.611", "right", 1), ("M25.612", "left", 1), inst=(("QuickDASH", 1.0),),
               rom=(("shoulder", "flexion"), ("shoulder", "abduction"), ("shoulder", "external_rotation"))),
            _v(("G89.29", "na", 1), inst=(("PSFS", 1.0),)),
        ),
        pain=5.4, relief=0.36, tau=3.5, course=8, rom_level=0.70, rom_gain=0.08,
    ),
)

# Technique mix of a typical clinic (relative weights over contract.TECHNIQUES).
BASE_TECHNIQUES = {
    "swedish": 2.0, "deep_tissue": 2.0, "myofascial_release": 2.0, "trigger_point": 2.0, "neuromuscular": 1.0,
    "stretching": 1.2, "pnf": 0.4, "cupping": 0.4, "instrument_assisted": 0.5, "lymphatic_drainage": 0.3, "other": 0.15,
}
# Techniques and outcome (an association, as observational data shows; not an effect): the primary
# technique of an episode scales the relief it reaches, and each technique listed on a visit scales
# the chance of a flare (pain worse right after treatment), deep work more than gentle work.
TECHNIQUE_RELIEF = {
    "myofascial_release": 1.08, "trigger_point": 1.06, "neuromuscular": 1.04, "pnf": 1.05, "stretching": 1.03,
    "instrument_assisted": 1.02, "deep_tissue": 1.0, "cupping": 0.97, "lymphatic_drainage": 0.96, "swedish": 0.92,
    "other": 0.95,
}
TECHNIQUE_FLARE = {
    "deep_tissue": 2.2, "instrument_assisted": 1.9, "cupping": 1.7, "trigger_point": 1.4, "neuromuscular": 1.1,
    "myofascial_release": 1.0, "pnf": 1.0, "stretching": 0.8, "other": 1.0, "swedish": 0.5,
    "lymphatic_drainage": 0.4,
}
# Payer mix of a typical clinic, then adjusted by age band (Medicare) and condition (auto, work injuries).
PAYER_SHARE = {
    "commercial": 0.40, "medicare": 0.10, "medicaid": 0.07, "workers_comp": 0.07, "auto_pip": 0.04,
    "fsa_hsa": 0.10, "self_pay": 0.22,
}
MEDICARE_BY_AGE = (0.0, 0.03, 0.03, 0.05, 0.10, 1.2, 9.0, 12.0, 12.0)  # multipliers over contract.AGE_BANDS
REFERRAL_BY_PAYER = {  # probability that a referral is on file
    "commercial": 0.90, "medicare": 0.95, "medicaid": 0.90, "workers_comp": 0.97, "auto_pip": 0.93,
    "fsa_hsa": 0.80, "self_pay": 0.40,
}
REFERRAL_SHARE = {"physician": 0.60, "chiropractor": 0.18, "physical_therapist": 0.12, "other_provider": 0.10}
SELF_REFERRAL = "self"
# Billing: timed codes (transforms.contract.TIMED_CPT_CODES) per episode, and an untimed
# evaluation code some clinics bill at the first visit (1 unit, not subject to the 8-minute rule).
CPT_SHARE = {"97124": 0.52, "97140": 0.40, "97110": 0.03, "97112": 0.03, "97530": 0.02}
EVALUATION_CPT = "97162"
# A visit billed as two timed rows of one day: the second row is therapeutic exercise or activities.
SPLIT_CPT = ("97110", "97530")
MINUTES = {30: 0.17, 45: 0.30, 60: 0.43, 75: 0.06, 90: 0.04}
# Function instruments: typical baseline impairment (fraction of the range), score step, and
# responsiveness (relative change in impairment per relative change in pain), tuned so that
# about 40-60% of treated episodes reach the MCID (domain-reference.md section 5).
INSTRUMENT_MODEL = {
    "ODI": (0.36, 2.0, 1.0), "NDI": (0.32, 1.0, 1.35), "QuickDASH": (0.40, 0.1, 1.5), "LEFS": (0.45, 1.0, 0.8),
    "PSFS": (0.58, 0.1, 1.3), "FIQR": (0.55, 0.1, 1.5), "HIT6": (0.55, 1.0, 0.9), "BCTQ": (0.50, 0.01, 2.0),
    "FFI": (0.45, 0.1, 1.1), "KOOS": (0.50, 0.1, 0.8), "JFLS": (0.35, 0.1, 1.0),
}


@dataclass(frozen=True)
class Rates:
    """Episode- and session-level rates of the model (domain-reference.md section 5)."""

    baseline_sd: float = 1.8
    plateau: float = 0.10  # episodes without measurable gain
    long_course: float = 0.09  # maintenance-like courses of 13-30 visits
    dropout: float = 0.19  # stop early, no discharge (censored, never dropped)
    dropout_plateau: float = 0.26
    discharge: float = 0.90  # completers whose last visit is a discharge visit
    recurrence: float = 0.08  # patients with a second episode
    pain_noise: float = 0.6  # visit-to-visit SD of pre-treatment pain
    immediate_drop: tuple[float, float] = (1.4, 0.7)  # mean, SD of pain_pre - pain_post
    flare: float = 0.045  # sessions where pain is 2-3 points higher after treatment (scaled by technique)
    pain_pre_missing: float = 0.03
    pain_post_missing: float = 0.08
    function_missing: float = 0.05
    referral_row_blank: float = 0.03
    goals_row_blank: float = 0.06
    symptom_weeks_missing: float = 0.12
    techniques_missing: float = 0.03
    other_therapist: float = 0.15
    underbilled: float = 0.04
    overbilled: float = 0.005  # per therapist, a few therapists bill much more often over time
    overbilling_therapists: float = 0.15
    overbilled_heavy: float = 0.08
    evaluation_code: float = 0.12
    missing_evaluation: tuple[float, float] = (0.05, 0.12)  # insured, not insured
    missing_goals: tuple[float, float] = (0.05, 0.35)
    no_progress_notes: tuple[float, float] = (0.06, 0.25)
    rom_at: tuple[float, float, float, float] = (0.95, 0.06, 0.90, 0.85)  # by visit type (contract order)
    rom_post: float = 0.5
    # Techniques per visit: the first of the episode's four, the second, third and fourth, another one.
    technique_use: tuple[float, float, float, float, float] = (0.85, 0.6, 0.4, 0.2, 0.08)
    # Payer audit (metrics.md section 8).
    split_visit: float = 0.05  # treatment visits billed as two timed rows of one day
    split_by_day: float = 0.35  # of those, units counted over the day (the others row by row)
    reeval_after_relief: float = 0.85  # clinics re-evaluate 1-3 visits after relief is reached
    no_intake_measure: float = 0.025  # neither pain nor function at the first visit
    unmeasured_course: float = 0.03  # no pain or function score after the first visit
    authorised: float = 0.85  # episodes of a payer the clinic records authorisations for
    authorised_short: float = 0.08  # fewer visits authorised than the course takes
    long_break: float = 0.04  # courses interrupted once for 8 to 12 weeks (travel, illness)
    authorised_late: float = 0.15  # recorded at the second or third visit
    authorised_change: float = 0.12  # changed at a later visit (mostly extended, sometimes lowered)


RATES = Rates()


# ---------------------------------------------------------------------------------------------
# The model compiled into arrays, checked against the contract and the reference tables
# ---------------------------------------------------------------------------------------------


def _ix(vocabulary: Sequence[str], value: str) -> int:
    if value not in vocabulary:
        raise ValueError(f"synthetic model: {value!r} is not one of {', '.join(vocabulary)}")
    return list(vocabulary).index(value)


@dataclass(frozen=True)
class Model:
    """The clinical model as arrays indexed by group, code row, variant, ROM pair and instrument."""

    groups: tuple[str, ...]
    share: np.ndarray
    pain: np.ndarray
    relief: np.ndarray
    tau: np.ndarray
    course: np.ndarray
    per_week: np.ndarray
    female: np.ndarray
    acute: np.ndarray
    rom_level: np.ndarray
    rom_gain: np.ndarray
    age_cdf: np.ndarray  # (G, A)
    tech_logw: np.ndarray  # (G, T)
    payer_mult: np.ndarray  # (G, P)
    codes: tuple[str, ...]  # normalised code of each code row
    code_variant: np.ndarray
    code_side: np.ndarray
    group_rows: tuple[np.ndarray, ...]
    group_p: tuple[np.ndarray, ...]
    var_group: np.ndarray
    var_inst: np.ndarray  # (V, 3) index into contract.FUNCTION_INSTRUMENTS, -1 = none
    var_inst_cdf: np.ndarray  # (V, 3)
    var_nrom: np.ndarray
    var_rom: np.ndarray  # (V, R) index into the ROM pair table, -1 = none
    pair_joint: np.ndarray
    pair_move: np.ndarray
    pair_normal: np.ndarray
    pair_max: np.ndarray
    inst_lo: np.ndarray
    inst_hi: np.ndarray
    inst_better: np.ndarray
    inst_base: np.ndarray
    inst_step: np.ndarray
    inst_resp: np.ndarray
    payer_share: np.ndarray
    medicare_by_age: np.ndarray
    insured: np.ndarray
    referral_p: np.ndarray  # by payer
    referral_cdf: np.ndarray  # over REFERRAL_SHARE sources
    referral_codes: np.ndarray  # their indexes in contract.REFERRAL_SOURCES
    cpt: tuple[str, ...]  # timed codes, then the evaluation code
    cpt_cdf: np.ndarray
    minutes: np.ndarray
    minutes_cdf: np.ndarray
    technique_labels: tuple[str | None, ...]  # bit mask -> ";"-joined techniques
    tech_relief: np.ndarray  # relief multiplier of an episode's primary technique, over contract.TECHNIQUES
    tech_flare: np.ndarray  # flare multiplier of a technique listed on a visit, over contract.TECHNIQUES
    split_cpt: np.ndarray  # indexes into ``cpt`` of the second row's code of a split visit

    @property
    def max_rom(self) -> int:
        """Most ROM movements measured for one variant."""
        return self.var_rom.shape[1]


def _cdf(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def _draw_rows(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """One category per row of a 2-D array of cumulative shares (one distribution per row)."""
    u = rng.random(cdf.shape[0])
    return np.minimum((u[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)


def _draw_shared(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from one distribution given by its cumulative shares."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


@cache
def model() -> Model:
    """The compiled clinical model; raises ``ValueError`` when it disagrees with the reference data."""
    groups = condition_groups()
    by_group = {c.group: c for c in CONDITIONS}
    if sorted(by_group) != sorted(groups) or len(by_group) != len(CONDITIONS):
        raise ValueError(f"synthetic model covers {sorted(by_group)}, the reference has {sorted(groups)}")
    conds = [by_group[g] for g in groups]
    inst_names = contract.FUNCTION_INSTRUMENTS
    ref_inst = instruments()
    pairs = list(rom_normals())
    n_ages = len(contract.AGE_BANDS)
    for name in (*BASE_TECHNIQUES, *(t for c in conds for t, _ in c.techniques), *TECHNIQUE_RELIEF,
                 *TECHNIQUE_FLARE):
        _ix(contract.TECHNIQUES, name)
    for name in (*PAYER_SHARE, *REFERRAL_BY_PAYER, *(p for c in conds for p, _ in c.payers)):
        _ix(contract.PAYER_TYPES, name)
    for name in (*REFERRAL_SHARE, SELF_REFERRAL):
        _ix(contract.REFERRAL_SOURCES, name)
    for code in (*CPT_SHARE, *SPLIT_CPT):
        _ix(contract.TIMED_CPT_CODES, code)
        if code in SPLIT_CPT and code not in CPT_SHARE:
            raise ValueError(f"synthetic model: split visit code {code} must be one of the billed codes")
    if EVALUATION_CPT in contract.TIMED_CPT_CODES or len(EVALUATION_CPT) != 5:
        raise ValueError("synthetic model: the evaluation code must be an untimed 5-character CPT code")
    if len(MEDICARE_BY_AGE) != n_ages:
        raise ValueError("synthetic model: MEDICARE_BY_AGE must have one value per age band")

    codes: list[str] = []
    code_variant: list[int] = []
    code_side: list[int] = []
    group_rows: list[np.ndarray] = []
    group_p: list[np.ndarray] = []
    var_group: list[int] = []
    var_inst: list[list[int]] = []
    var_inst_w: list[list[float]] = []
    var_rom: list[list[int]] = []
    for g, cond in enumerate(conds):
        if len(cond.age) != n_ages:
            raise ValueError(f"synthetic model: {cond.group} needs one age share per age band")
        rows: list[int] = []
        probs: list[float] = []
        total_variant = sum(v.weight for v in cond.variants)
        for variant in cond.variants:
            v = len(var_group)
            var_group.append(g)
            insts = [(_ix(inst_names, name), w) for name, w in variant.instruments]
            for name, _ in variant.instruments:
                if name not in ref_inst or name not in INSTRUMENT_MODEL:
                    raise ValueError(f"synthetic model: instrument {name} is not in the reference table")
            var_inst.append([i for i, _ in insts] + [-1] * (3 - len(insts)))
            var_inst_w.append([w for _, w in insts] + [0.0] * (3 - len(insts)))
            for pair in variant.rom:
                if pair not in rom_normals():
                    raise ValueError(f"synthetic model: {pair} is not a joint movement of the ROM table")
            var_rom.append([pairs.index(p) for p in variant.rom])
            total_code = sum(w for _, _, w in variant.codes)
            raw_codes = [code for code, _, _ in variant.codes]
            normalised = normalise_codes(raw_codes)
            group_by_code = condition_groups_of(normalised)
            for (code, side, weight), norm in zip(variant.codes, normalised, strict=True):
                if group_by_code[norm] != cond.group:
                    raise ValueError(f"synthetic model: {code} maps to {group_by_code[norm]}, not {cond.group}")
                rows.append(len(codes))
                probs.append(variant.weight / total_variant * weight / total_code)
                codes.append(norm)
                code_variant.append(v)
                code_side.append(_ix(SIDE_KINDS, side))
        group_rows.append(np.array(rows))
        group_p.append(np.array(probs) / sum(probs))

    max_rom = max(len(r) for r in var_rom)
    var_rom_arr = np.full((len(var_rom), max_rom), -1, dtype=np.int16)
    for v, r in enumerate(var_rom):
        var_rom_arr[v, : len(r)] = r
    inst_w = np.array(var_inst_w)
    inst_cdf = np.where(inst_w.sum(1, keepdims=True) > 0, np.cumsum(inst_w, 1) / np.maximum(inst_w.sum(1, keepdims=True), 1e-12), 1.0)
    tech = np.array([[BASE_TECHNIQUES.get(t, 0.1) for t in contract.TECHNIQUES] for _ in conds])
    payer = np.ones((len(conds), len(contract.PAYER_TYPES)))
    for g, cond in enumerate(conds):
        for name, mult in cond.techniques:
            tech[g, _ix(contract.TECHNIQUES, name)] *= mult
        for name, mult in cond.payers:
            payer[g, _ix(contract.PAYER_TYPES, name)] *= mult
    labels: list[str | None] = [None]
    for mask in range(1, 1 << len(contract.TECHNIQUES)):
        labels.append(";".join(t for b, t in enumerate(contract.TECHNIQUES) if mask >> b & 1))
    ref_sources = list(REFERRAL_SHARE)
    return Model(
        groups=groups,
        share=np.array([c.share for c in conds]) / sum(c.share for c in conds),
        pain=np.array([c.pain for c in conds]),
        relief=np.array([c.relief for c in conds]),
        tau=np.array([c.tau for c in conds]),
        course=np.array([c.course for c in conds]),
        per_week=np.array([c.per_week for c in conds]),
        female=np.array([c.female for c in conds]),
        acute=np.array([c.acute for c in conds]),
        rom_level=np.array([c.rom_level for c in conds]),
        rom_gain=np.array([c.rom_gain for c in conds]),
        age_cdf=np.array([_cdf(c.age) for c in conds]),
        tech_logw=np.log(tech),
        payer_mult=payer,
        codes=tuple(codes),
        code_variant=np.array(code_variant),
        code_side=np.array(code_side),
        group_rows=tuple(group_rows),
        group_p=tuple(group_p),
        var_group=np.array(var_group),
        var_inst=np.array(var_inst, dtype=np.int8),
        var_inst_cdf=inst_cdf,
        var_nrom=np.array([len(r) for r in var_rom]),
        var_rom=var_rom_arr,
        pair_joint=np.array([_ix(contract.JOINTS, j) for j, _ in pairs]),
        pair_move=np.array([_ix(contract.MOVEMENTS, mv) for _, mv in pairs]),
        pair_normal=np.array([rom_normals()[p][0] for p in pairs]),
        pair_max=np.array([rom_normals()[p][1] for p in pairs]),
        inst_lo=np.array([ref_inst[n].score_min if n in ref_inst else 0.0 for n in inst_names]),
        inst_hi=np.array([ref_inst[n].score_max if n in ref_inst else 1.0 for n in inst_names]),
        inst_better=np.array([ref_inst[n].higher_is_better if n in ref_inst else False for n in inst_names]),
        inst_base=np.array([INSTRUMENT_MODEL.get(n, (0.4, 1.0, 1.0))[0] for n in inst_names]),
        inst_step=np.array([INSTRUMENT_MODEL.get(n, (0.4, 1.0, 1.0))[1] for n in inst_names]),
        inst_resp=np.array([INSTRUMENT_MODEL.get(n, (0.4, 1.0, 1.0))[2] for n in inst_names]),
        payer_share=np.array([PAYER_SHARE.get(p, 0.0) for p in contract.PAYER_TYPES]),
        medicare_by_age=np.array(MEDICARE_BY_AGE),
        insured=np.array([p in contract.INSURED_PAYERS for p in contract.PAYER_TYPES]),
        referral_p=np.array([REFERRAL_BY_PAYER.get(p, 0.5) for p in contract.PAYER_TYPES]),
        referral_cdf=_cdf([REFERRAL_SHARE[s] for s in ref_sources]),
        referral_codes=np.array([_ix(contract.REFERRAL_SOURCES, s) for s in ref_sources]),
        cpt=(*CPT_SHARE, EVALUATION_CPT),
        cpt_cdf=_cdf(list(CPT_SHARE.values())),
        minutes=np.array(list(MINUTES)),
        minutes_cdf=_cdf(list(MINUTES.values())),
        technique_labels=tuple(labels),
        tech_relief=np.array([TECHNIQUE_RELIEF.get(t, 1.0) for t in contract.TECHNIQUES]),
        tech_flare=np.array([TECHNIQUE_FLARE.get(t, 1.0) for t in contract.TECHNIQUES]),
        split_cpt=np.array([list(CPT_SHARE).index(c) for c in SPLIT_CPT]),
    )


# ---------------------------------------------------------------------------------------------
# Clinics, their export windows and their staff
# ---------------------------------------------------------------------------------------------

GOALS_STYLES = {"bool": None, "yesno": ("yes", "no"), "10": ("1", "0")}


@dataclass(frozen=True)
class ClinicSpec:
    """One clinic of a synthetic inbox: identity, export layout and data-entry habits.

    ``periods`` are consecutive (folder suffix, first month, last month) with months as
    ``YYYY-MM``; each becomes the export folder ``<folder>-<suffix>``.
    """

    clinic_id: str
    folder: str
    periods: tuple[tuple[str, str, str], ...]
    fmt: str = "parquet"
    episode_ids: bool = False
    therapists: int = 6
    therapist_base: int = 1  # number of the clinic's first therapist (T001)
    dotless_codes: float = 0.0  # share of rows writing the code without its dot (M5450)
    lower_codes: float = 0.0  # share of rows writing the code in lower case (m54.50)
    goals_style: str = "bool"  # a key of GOALS_STYLES; Parquet keeps a boolean column for "bool"
    column_order: tuple[str, ...] = contract.SESSION_COLUMNS
    rom_rate: float = 0.75  # share of ROM-measurable episodes whose ROM is recorded
    function_rate: float = 0.85  # share of episodes with a function instrument
    relief: float = 1.0  # clinic effect on pain relief (multiplier)
    half_points: float = 0.2  # share of pain scores rounded to half points rather than whole points
    # payer types whose authorised visits the clinic's system records (authorized_visits); none: no column
    authorizations: tuple[str, ...] = ()

    def export_name(self, index: int) -> str:
        """Folder name of the clinic's export number ``index``."""
        return f"{self.folder}-{self.periods[index][0]}"


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


@dataclass(frozen=True)
class Window:
    """The days a clinic's exports cover and which export each month belongs to."""

    first_day: int
    last_day: int
    first_month: int
    month_export: np.ndarray


def window(spec: ClinicSpec) -> Window:
    """The clinic's window; raises ``ValueError`` for gaps between periods or a window past LATEST_DAY."""
    months = [(np.datetime64(a, "M"), np.datetime64(b, "M")) for _, a, b in spec.periods]
    for (a, b), (c, _) in zip(months, months[1:], strict=False):
        if b < a or c != b + 1:
            raise ValueError(f"{spec.clinic_id}: export periods must be consecutive months")
    first_month = int(months[0][0].astype(np.int64))
    month_export = np.concatenate([np.full(int((b - a).astype(np.int64)) + 1, i) for i, (a, b) in enumerate(months)])
    first_day = int(months[0][0].astype("datetime64[D]").astype(np.int64))
    last_day = int((months[-1][1] + 1).astype("datetime64[D]").astype(np.int64)) - 1
    if last_day > _day(LATEST_DAY):
        raise ValueError(f"{spec.clinic_id}: synthetic data must end by {LATEST_DAY}, not {_iso(last_day)}")
    return Window(first_day, last_day, first_month, month_export)


@dataclass(frozen=True)
class Staff:
    """The therapists of one clinic: their effect on relief and how often they bill over time."""

    relief: np.ndarray
    overbill: np.ndarray
    patient_salt: int


def staff(rng: np.random.Generator, n: int) -> Staff:
    """Draw a clinic's therapists (and the salt of its patient tokens)."""
    relief = rng.lognormal(0.0, 0.10, n)
    heavy = rng.random(n) < RATES.overbilling_therapists
    salt = int(rng.integers(0, _TOKEN_MASK + 1))
    return Staff(relief, np.where(heavy, RATES.overbilled_heavy, RATES.overbilled), salt)


# ---------------------------------------------------------------------------------------------
# Episodes, sessions and ROM rows as columns of numpy arrays
# ---------------------------------------------------------------------------------------------

_T = TypeVar("_T")


def _take(obj: _T, index: Any) -> _T:
    return type(obj)(**{f.name: getattr(obj, f.name)[index] for f in fields(obj)})  # type: ignore[arg-type]


def _concat(parts: Sequence[_T]) -> _T:
    first = parts[0]
    return type(first)(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(first)})  # type: ignore[arg-type]


@dataclass
class Episodes:
    """Episode-level draws (one element per episode)."""

    group: np.ndarray
    code: np.ndarray
    variant: np.ndarray
    side: np.ndarray  # index into SIDE_KINDS (left, right, both or na)
    patient: np.ndarray  # patient number within the clinic
    age: np.ndarray
    sex: np.ndarray
    start: np.ndarray  # day of the first visit
    payer: np.ndarray
    referral: np.ndarray  # index into contract.REFERRAL_SOURCES, -1 = none on file
    has_goals: np.ndarray
    goals_blank: np.ndarray  # without goals: the field is left empty rather than false
    no_eval: np.ndarray
    no_progress: np.ndarray
    eval_code: np.ndarray
    actual: np.ndarray  # visits the patient comes to (before the export window ends)
    discharge: np.ndarray
    plateau: np.ndarray
    baseline: np.ndarray
    relief: np.ndarray  # NRS points relieved by a full course
    tau: np.ndarray
    interval: np.ndarray  # days between visits
    reeval: np.ndarray  # a re-evaluation every this many visits
    therapist: np.ndarray
    cpt: np.ndarray
    minutes: np.ndarray
    symptom_weeks: np.ndarray  # -1 = missing
    inst: np.ndarray  # -1 = no function instrument
    imp0: np.ndarray  # baseline impairment as a fraction of the instrument's range
    func_gain: np.ndarray
    records_rom: np.ndarray
    rom_level: np.ndarray
    rom_gain: np.ndarray
    rom_off: np.ndarray  # (E, max ROM movements, 2 sides)
    tech: np.ndarray  # (E, 4) the episode's techniques, the first its primary one
    auth: np.ndarray  # visits authorised (-1 = not recorded)
    auth_at: np.ndarray  # 0-based visit at which the authorisation is first recorded
    auth_new: np.ndarray  # a later authorisation replacing it (-1 = none)
    auth_new_at: np.ndarray
    reeval_delay: np.ndarray  # visits after relief at which the clinic re-evaluates (0 = it does not)
    no_intake: np.ndarray  # no pain or function score at the first visit
    unmeasured: np.ndarray  # no pain or function score after the first visit


@dataclass
class Sessions:
    """Session-level columns (one element per visit)."""

    ep: np.ndarray
    k: np.ndarray  # 0-based visit number within the episode
    day: np.ndarray
    visit: np.ndarray  # index into contract.VISIT_TYPES (len = a deliberately unknown type)
    pre: np.ndarray
    post: np.ndarray
    inst: np.ndarray
    score: np.ndarray
    therapist: np.ndarray
    cpt: np.ndarray
    units: np.ndarray
    minutes: np.ndarray
    tech: np.ndarray  # bit mask over contract.TECHNIQUES, 0 = missing
    referral: np.ndarray
    goals: np.ndarray  # 1 true, 0 false, -1 missing
    has_rom: np.ndarray
    bad_code: np.ndarray  # a deliberately malformed condition code
    authorized: np.ndarray  # authorised visits as known at this visit (-1 = not recorded)
    sub: np.ndarray  # 0 = the visit's row, 1 = the second timed row of a visit billed as two rows


@dataclass
class Rom:
    """ROM rows (one element per measurement)."""

    session: np.ndarray  # index into Sessions
    pair: np.ndarray  # index into the ROM normals table
    side: np.ndarray  # index into contract.SIDES
    timing: np.ndarray  # index into contract.TIMINGS
    value: np.ndarray


@dataclass
class Batch:
    """Episodes with their sessions (episode-major until ordered) and ROM rows."""

    episodes: Episodes
    sessions: Sessions
    rom: Rom
    n_patients: int


def _visit(name: str) -> int:
    return _ix(contract.VISIT_TYPES, name)


EVALUATION, TREATMENT, REEVALUATION, DISCHARGE = (_visit(v) for v in ("evaluation", "treatment", "reevaluation", "discharge"))
_SIDE_OF_KIND = np.array([_ix(contract.SIDES, k) if k in contract.SIDES else -1 for k in SIDE_KINDS])
_PRE, _POST = _ix(contract.TIMINGS, "pre"), _ix(contract.TIMINGS, "post")


def _start_days(rng: np.random.Generator, win: Window, n: int) -> np.ndarray:
    day = rng.integers(win.first_day, win.last_day, n)
    return day + ((day + 3) % 7 == 6)  # the clinics are closed on Sundays


def draw_episodes(
    m: Model, spec: ClinicSpec, team: Staff, rng: np.random.Generator, group: np.ndarray, start: np.ndarray,
    patient: np.ndarray, age: np.ndarray | None = None, sex: np.ndarray | None = None,
) -> Episodes:
    """Draw everything about new episodes of the given groups, start days and patients."""
    r = RATES
    n = len(group)
    code = np.zeros(n, dtype=np.int64)
    for g in range(len(m.groups)):
        sel = np.flatnonzero(group == g)
        if sel.size:
            code[sel] = m.group_rows[g][_draw_shared(rng, _cdf(m.group_p[g]), sel.size)]
    variant = m.code_variant[code]
    kind = m.code_side[code]
    side = np.where(kind == _ANY, np.where(rng.random(n) < 0.5, _LEFT, _RIGHT), kind)
    if age is None or sex is None:
        age = _draw_rows(rng, m.age_cdf[group])
        u = rng.random(n)
        fem = m.female[group]
        sexes = [_ix(contract.SEXES, s) for s in ("F", "X", "U", "M")]
        sex = np.select([u < fem, u < fem + 0.01, u < fem + 0.02], sexes[:3], sexes[3])

    weights = m.payer_share[None, :] * m.payer_mult[group]
    weights[:, _ix(contract.PAYER_TYPES, "medicare")] *= m.medicare_by_age[age]
    minors = age == 0
    weights[minors, _ix(contract.PAYER_TYPES, "workers_comp")] = 0.0
    weights[minors, _ix(contract.PAYER_TYPES, "medicaid")] *= 3.0
    payer = _draw_rows(rng, np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1))
    insured = m.insured[payer]
    referred = rng.random(n) < m.referral_p[payer]
    source = m.referral_codes[_draw_shared(rng, m.referral_cdf, n)]
    unreferred = np.where(rng.random(n) < 0.4, _ix(contract.REFERRAL_SOURCES, SELF_REFERRAL), -1)
    referral = np.where(referred, source, unreferred)
    has_goals = rng.random(n) >= np.where(insured, *r.missing_goals)
    goals_blank = rng.random(n) < 0.3
    no_eval = rng.random(n) < np.where(insured, *r.missing_evaluation)
    no_progress = rng.random(n) < np.where(insured, *r.no_progress_notes)
    eval_code = rng.random(n) < r.evaluation_code

    planned = np.clip(np.rint(m.course[group] * rng.lognormal(0.0, 0.3, n)), 3, 20).astype(np.int64)
    long = rng.random(n) < r.long_course
    planned = np.where(long, rng.integers(13, 31, n), planned)
    plateau = (rng.random(n) < r.plateau) | (long & (rng.random(n) < 0.25))
    dropout = rng.random(n) < np.where(plateau, r.dropout_plateau, r.dropout)
    early = 1 + np.floor((planned - 1) * rng.random(n) ** 1.6).astype(np.int64)
    actual = np.where(dropout, early, planned)
    discharge = ~dropout & (rng.random(n) < r.discharge)

    baseline = np.clip(rng.normal(m.pain[group], r.baseline_sd), 0.0, 10.0)
    therapist = rng.integers(0, len(team.relief), n)
    keys = m.tech_logw[group] + rng.gumbel(size=(n, len(contract.TECHNIQUES)))
    tech = np.argsort(-keys, axis=1, kind="stable")[:, :4]
    mean_relief = m.relief[group] * spec.relief * team.relief[therapist] * m.tech_relief[tech[:, 0]]
    frac = np.clip(np.where(plateau, rng.normal(0.03, 0.06, n), rng.normal(mean_relief, 0.17)), -0.15, 0.95)
    # Half of the courses that cannot bring a relief of 2 points are reviewed and ended after 4-6 visits.
    review_stop = (frac * baseline < 2.0) & ~long & (rng.random(n) < 0.5)
    planned = np.where(review_stop, np.minimum(planned, rng.integers(4, 7, n)), planned)
    actual = np.minimum(actual, planned)
    tau = m.tau[group] * rng.lognormal(0.0, 0.25, n)
    interval = np.clip(7.0 / (m.per_week[group] * rng.lognormal(0.0, 0.2, n)), 2.0, 14.0)
    reeval = rng.integers(9, 12, n)

    cpt = _draw_shared(rng, m.cpt_cdf, n)
    minutes = m.minutes[_draw_shared(rng, m.minutes_cdf, n)]
    weeks = np.rint(np.where(m.acute[group], rng.lognormal(np.log(3.0), 0.7, n), rng.lognormal(np.log(30.0), 0.9, n)))
    weeks = np.where(rng.random(n) < r.symptom_weeks_missing, -1, weeks).astype(np.int64)

    slot = _draw_rows(rng, m.var_inst_cdf[variant])
    inst = m.var_inst[variant, slot].astype(np.int64)
    inst = np.where(rng.random(n) < spec.function_rate, inst, -1)
    severity = baseline / 5.5 * rng.lognormal(0.0, 0.2, n)
    imp0 = np.clip(m.inst_base[np.maximum(inst, 0)] * severity, 0.03, 0.97)
    func_gain = np.clip(frac * m.inst_resp[np.maximum(inst, 0)] + rng.normal(0.0, 0.12, n), -0.2, 0.95)

    records_rom = (m.var_nrom[variant] > 0) & (rng.random(n) < spec.rom_rate)
    rom_level = np.clip(rng.normal(m.rom_level[group], 0.08), 0.25, 1.02)
    rom_gain = rng.normal(m.rom_gain[group] * np.where(plateau, 0.2, 1.0), 0.6 * m.rom_gain[group])
    rom_off = rng.normal(0.0, 0.04, (n, m.max_rom, 2))

    # Authorised visits, for the payer types the clinic records them for: usually a few more than the
    # planned course, sometimes fewer; sometimes recorded late, sometimes extended (or lowered) later.
    recorded = np.array([p in spec.authorizations for p in contract.PAYER_TYPES])[payer]
    has_auth = recorded & (rng.random(n) < r.authorised)
    short = rng.random(n) < r.authorised_short
    auth = np.where(short, np.maximum(planned - rng.integers(1, 4, n), 1), planned + rng.integers(0, 4, n))
    auth_at = np.where(rng.random(n) < r.authorised_late, rng.integers(1, 3, n), 0)
    change = rng.random(n) < r.authorised_change
    auth_new = np.where(rng.random(n) < 0.75, auth + rng.integers(2, 7, n), np.maximum(auth - rng.integers(1, 3, n), 1))
    auth_new_at = auth_at + rng.integers(2, 8, n)
    reeval_delay = np.where(rng.random(n) < r.reeval_after_relief, rng.integers(1, 4, n), 0)
    no_intake = rng.random(n) < r.no_intake_measure
    unmeasured = rng.random(n) < r.unmeasured_course
    return Episodes(
        group=group, code=code, variant=variant, side=side, patient=patient, age=age, sex=sex, start=start,
        payer=payer, referral=referral, has_goals=has_goals, goals_blank=goals_blank, no_eval=no_eval,
        no_progress=no_progress, eval_code=eval_code, actual=actual, discharge=discharge, plateau=plateau,
        baseline=baseline, relief=frac * baseline, tau=tau, interval=interval, reeval=reeval, therapist=therapist,
        cpt=cpt, minutes=minutes, symptom_weeks=weeks, inst=inst, imp0=imp0, func_gain=func_gain,
        records_rom=records_rom, rom_level=rom_level, rom_gain=rom_gain, rom_off=rom_off, tech=tech,
        auth=np.where(has_auth, auth, -1), auth_at=auth_at, auth_new=np.where(has_auth & change, auth_new, -1),
        auth_new_at=auth_new_at, reeval_delay=reeval_delay, no_intake=no_intake, unmeasured=unmeasured,
    )


def _round_pain(x: np.ndarray, half: np.ndarray) -> np.ndarray:
    return np.where(half, np.round(x * 2.0) / 2.0, np.round(x))


def _first_per_episode(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The smallest value of each episode's rows (rows are episode-major; ``starts`` are their first rows)."""
    return np.minimum.reduceat(values, starts) if len(values) else values


def simulate(
    m: Model, spec: ClinicSpec, team: Staff, rng: np.random.Generator, ep: Episodes, last_day: int
) -> tuple[Sessions, Rom]:
    """The visits of the episodes up to ``last_day`` (episode-major order) and their ROM rows."""
    r = RATES
    n_ep = len(ep.group)
    eidx = np.repeat(np.arange(n_ep), ep.actual)
    first = np.cumsum(ep.actual) - ep.actual
    k = np.arange(len(eidx)) - first[eidx]
    gap = np.rint(ep.interval[eidx] * rng.lognormal(0.0, 0.15, len(eidx))) + 7 * (rng.random(len(eidx)) < 0.06)
    gap = np.where(k == 0, 0, np.clip(gap, 1, 28)).astype(np.int64)
    interrupted = (k > 1) & (rng.random(len(eidx)) < RATES.long_break / np.maximum(ep.actual[eidx] - 2, 1))
    gap = np.where(interrupted, rng.integers(56, 85, len(eidx)), gap)
    cum = np.cumsum(gap)
    day = ep.start[eidx] + cum - cum[first][eidx]
    day = day + ((day + 3) % 7 == 6)
    # Keep one episode's visits on strictly increasing days (a running maximum within episodes).
    stride = np.int64(1 << 24)
    day = np.maximum.accumulate(day - k + eidx * stride) - eidx * stride + k
    keep = day <= last_day  # visits after the export window are not in the data (yet)
    eidx, k, day = eidx[keep], k[keep], day[keep]
    n = len(eidx)
    kept = np.bincount(eidx, minlength=n_ep)
    starts = np.flatnonzero(np.r_[True, eidx[1:] != eidx[:-1]]) if n else np.zeros(0, dtype=np.int64)

    # Techniques of each visit: mostly the episode's primary one, often others of its four, now and
    # then another one; a flare is likelier on a visit with deep work.
    tech = ep.tech[eidx]
    use = np.asarray(r.technique_use)
    bits = np.zeros(n, dtype=np.int64)
    for j in range(tech.shape[1]):
        bits |= (1 << tech[:, j]) * (rng.random(n) < use[j])
    bits |= (1 << rng.integers(0, len(contract.TECHNIQUES), n)) * (rng.random(n) < use[-1])
    bits = np.where(bits == 0, 1 << tech[:, 0], bits)
    bits[rng.random(n) < r.techniques_missing] = 0
    flare_scale = np.ones(n)
    for t, mult in enumerate(m.tech_flare):
        flare_scale += ((bits >> t) & 1) * (mult - 1.0)
    flare_scale = np.maximum(flare_scale, 0.3)

    # Pain: pre-treatment scores drift towards baseline - relief; the immediate drop is transient.
    curve = 1.0 - np.exp(-k / ep.tau[eidx])
    noise = rng.normal(0.0, r.pain_noise, n) * (k > 0)
    half = rng.random(n) < spec.half_points
    pre = _round_pain(np.clip(ep.baseline[eidx] - ep.relief[eidx] * curve + noise, 0.0, 10.0), half)
    drop = np.maximum(rng.normal(*r.immediate_drop, n), 0.0)
    drop = np.where(rng.random(n) < r.flare * flare_scale, -rng.integers(2, 4, n), drop)
    post = _round_pain(np.clip(pre - drop, 0.0, 10.0), half)
    pre_missing = rng.random(n) < r.pain_pre_missing
    post_missing = (rng.random(n) < r.pain_post_missing) | (pre_missing & (rng.random(n) < 0.5))
    unscored = (ep.no_intake[eidx] & (k == 0)) | (ep.unmeasured[eidx] & (k > 0))
    pre[pre_missing | unscored] = np.nan
    post[post_missing | unscored] = np.nan

    # Visit types: an evaluation first (usually), a re-evaluation every few visits, a discharge at the
    # end for most completers, and -- at most clinics -- a re-evaluation soon after relief is reached.
    last = k == kept[eidx] - 1
    complete = kept[eidx] == ep.actual[eidx]
    discharge = ep.discharge[eidx] & last & complete & (k > 0)
    base = pre[starts][np.searchsorted(starts, np.arange(n), side="right") - 1] if n else pre
    relieved = (k > 0) & (base >= 3) & (pre <= base - 2) & (pre <= 0.7 * base)
    relief_k = _first_per_episode(np.where(relieved, k, 1 << 30), starts)
    relief_k = np.full(n_ep, 1 << 30) if not n else np.repeat(relief_k, np.diff(np.r_[starts, n]))
    after_relief = (ep.reeval_delay[eidx] > 0) & (k == relief_k + ep.reeval_delay[eidx])
    visit = np.full(n, TREATMENT, dtype=np.int8)
    visit[(k == 0) & ~ep.no_eval[eidx]] = EVALUATION
    visit[(k > 0) & ((k % ep.reeval[eidx] == 0) | after_relief) & ~ep.no_progress[eidx] & ~discharge] = REEVALUATION
    visit[discharge] = DISCHARGE

    # Function: scored at evaluation, re-evaluation and discharge visits.
    inst = ep.inst[eidx]
    scored = (np.isin(visit, (EVALUATION, REEVALUATION, DISCHARGE)) & (inst >= 0) & ~unscored
              & (rng.random(n) >= r.function_missing))
    ii = np.maximum(inst, 0)
    impairment = ep.imp0[eidx] * (1.0 - ep.func_gain[eidx] * curve) + rng.normal(0.0, 0.035, n) * (k > 0)
    impairment = np.clip(impairment, 0.0, 1.0)
    lo, hi, step = m.inst_lo[ii], m.inst_hi[ii], m.inst_step[ii]
    raw = np.where(m.inst_better[ii], hi - (hi - lo) * impairment, lo + (hi - lo) * impairment)
    score = np.clip(np.round(np.round(raw / step) * step, 2), lo, hi)
    score = np.where(scored, score, np.nan)
    inst = np.where(scored, inst, -1)

    # Billing: minutes per visit, units by the 8-minute rule with some under- and over-billing.
    therapist = np.where(rng.random(n) < r.other_therapist, rng.integers(0, len(team.relief), n), ep.therapist[eidx])
    jitter = np.where(rng.random(n) < 0.35, np.rint(rng.normal(0.0, 4.0, n)), 0.0)
    minutes = np.clip(ep.minutes[eidx] + 15 * (visit == EVALUATION) + jitter, 10, 120).astype(np.int64)
    cpt = ep.cpt[eidx].copy()
    eval_code = (visit == EVALUATION) & ep.eval_code[eidx]
    cpt[eval_code] = len(m.cpt) - 1
    units = (minutes + 7) // 15
    units = np.where(rng.random(n) < r.underbilled, np.maximum(units - 1, 1), units)
    units = units + (rng.random(n) < team.overbill[therapist])
    units[eval_code] = 1

    referral = np.where(rng.random(n) < r.referral_row_blank, -1, ep.referral[eidx])
    goals = np.where(
        ep.has_goals[eidx], np.where(rng.random(n) < r.goals_row_blank, -1, 1), np.where(ep.goals_blank[eidx], -1, 0)
    )
    # Authorised visits as known at each visit: from the visit where they are recorded, changed later.
    authorized = np.where((ep.auth[eidx] >= 0) & (k >= ep.auth_at[eidx]), ep.auth[eidx], -1)
    authorized = np.where((ep.auth_new[eidx] >= 0) & (k >= ep.auth_new_at[eidx]), ep.auth_new[eidx], authorized)

    # ROM: measured pre (and sometimes post) treatment at some visits of episodes that record it.
    has_rom = ep.records_rom[eidx] & (rng.random(n) < np.asarray(r.rom_at)[visit])
    sidx = np.flatnonzero(has_rom)
    e = eidx[sidx]
    var = ep.variant[e]
    kind = ep.side[e]
    n_side = np.where(kind == _BOTH, 2, 1)
    n_time = 1 + (rng.random(len(sidx)) < r.rom_post)
    count = m.var_nrom[var] * n_side * n_time
    row = np.repeat(np.arange(len(sidx)), count)
    within = np.arange(len(row)) - (np.cumsum(count) - count)[row]
    timing = within % n_time[row]
    rest = within // n_time[row]
    side_i = rest % n_side[row]
    slot = rest // n_side[row]
    pair = m.var_rom[var[row], slot].astype(np.int64)
    er = e[row]
    side = _SIDE_OF_KIND[np.where(kind[row] == _BOTH, np.where(side_i == 0, _LEFT, _RIGHT), kind[row])]
    normal = m.pair_normal[pair]
    level = ep.rom_level[er] + ep.rom_off[er, slot, side_i] + ep.rom_gain[er] * curve[sidx[row]]
    value = normal * level + rng.normal(0.0, 1.0, len(row)) * np.maximum(1.5, 0.035 * normal)
    post_rows = np.flatnonzero(timing == 1)  # always right after the pre row of the same measurement
    value[post_rows] = value[post_rows - 1] + rng.normal(0.025, 0.025, len(post_rows)) * normal[post_rows]
    value = np.clip(np.rint(value), 0.0, m.pair_max[pair])
    timing = np.where(timing == 1, _POST, _PRE)

    sessions = Sessions(
        ep=eidx, k=k, day=day, visit=visit, pre=pre, post=post, inst=inst, score=score, therapist=therapist, cpt=cpt,
        units=units, minutes=minutes, tech=bits, referral=referral, goals=goals, has_rom=has_rom,
        bad_code=np.zeros(n, dtype=bool), authorized=authorized, sub=np.zeros(n, dtype=np.int8),
    )
    sessions, moved = _split_visits(m, rng, sessions)
    return sessions, Rom(session=moved[sidx[row]], pair=pair, side=side, timing=timing, value=value)


def _split_visits(m: Model, rng: np.random.Generator, s: Sessions) -> tuple[Sessions, np.ndarray]:
    """Some treatment visits billed as two timed rows of one day (the second: exercise or activities).

    The minutes are split between the rows; most clinics bill each row by the 8-minute rule on its own
    minutes (so the day can end up over-billed: 10 + 10 minutes make 2 units, the day's 20 minutes
    support 1), some count the units over the day. The second row has no pain or function score and no
    ROM. Returns the sessions (episode-major) and where each original row went.
    """
    r = RATES
    n = len(s.ep)
    pick = np.flatnonzero((s.visit == TREATMENT) & (s.k > 0) & (s.minutes >= 15) & (rng.random(n) < r.split_visit))
    first_minutes = np.clip(np.rint(s.minutes[pick] * rng.uniform(0.35, 0.75, len(pick))), 5, s.minutes[pick] - 5)
    second_minutes = s.minutes[pick] - first_minutes
    first_units = (first_minutes + 7) // 15
    by_day = rng.random(len(pick)) < r.split_by_day
    second_units = np.where(by_day, np.maximum((s.minutes[pick] + 7) // 15 - first_units, 0),
                            (second_minutes + 7) // 15)
    extra = _take(s, pick)
    extra.minutes = second_minutes.astype(np.int64)
    extra.units = second_units.astype(np.int64)
    extra.cpt = m.split_cpt[rng.integers(0, len(m.split_cpt), len(pick))]
    extra.pre = np.full(len(pick), np.nan)
    extra.post = np.full(len(pick), np.nan)
    extra.inst = np.full(len(pick), -1, dtype=s.inst.dtype)
    extra.score = np.full(len(pick), np.nan)
    extra.has_rom = np.zeros(len(pick), dtype=bool)
    extra.sub = np.ones(len(pick), dtype=np.int8)
    s.minutes = s.minutes.copy()
    s.units = s.units.copy()
    s.minutes[pick] = first_minutes
    s.units[pick] = first_units
    joined = _concat([s, extra])
    order = np.lexsort((joined.sub, joined.k, joined.ep))
    moved = np.empty(len(order), dtype=np.int64)
    moved[order] = np.arange(len(order))
    return _take(joined, order), moved[:n]


def episode_batch(
    m: Model, spec: ClinicSpec, team: Staff, rng: np.random.Generator, win: Window, group: np.ndarray, patient_base: int
) -> Batch:
    """New patients' episodes of the given groups, plus second episodes some of them come back for."""
    n = len(group)
    ep1 = draw_episodes(m, spec, team, rng, group, _start_days(rng, win, n), patient_base + np.arange(n))
    s1, r1 = simulate(m, spec, team, rng, ep1, win.last_day)
    last_row = np.cumsum(np.bincount(s1.ep, minlength=n)) - 1
    last_day = s1.day[last_row]
    discharged = s1.visit[last_row] == DISCHARGE
    # A second episode: the same condition again (after a discharge, or after more than 90 days)
    # or another condition at any time.
    pick = rng.random(n) < RATES.recurrence
    same = rng.random(n) < 0.5
    other = _draw_shared(rng, _cdf(m.share), n)
    other = np.where(other == group, (other + 1) % len(m.groups), other)
    gap = np.where(discharged, rng.integers(21, 121, n), rng.integers(95, 201, n))
    start = np.where(same, last_day + gap, _start_days(rng, win, n))
    start = start + ((start + 3) % 7 == 6)
    sel = np.flatnonzero(pick & (start < win.last_day))
    if sel.size == 0:
        return Batch(ep1, s1, r1, n)
    ep2 = draw_episodes(
        m, spec, team, rng, np.where(same, group, other)[sel], start[sel], ep1.patient[sel], ep1.age[sel], ep1.sex[sel]
    )
    s2, r2 = simulate(m, spec, team, rng, ep2, win.last_day)
    s2.ep += n
    r2.session += len(s1.ep)
    return Batch(_concat([ep1, ep2]), _concat([s1, s2]), _concat([r1, r2]), n)


def _reorder_episodes(b: Batch, order: np.ndarray) -> Batch:
    """The batch with its episodes in ``order`` (sessions stay episode-major)."""
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    s_order = np.argsort(rank[b.sessions.ep], kind="stable")
    sessions = _take(b.sessions, s_order)
    sessions.ep = rank[sessions.ep]
    return Batch(_take(b.episodes, order), sessions, _remap_rom(b.rom, s_order), b.n_patients)


def _remap_rom(rom: Rom, session_order: np.ndarray) -> Rom:
    """ROM rows following a reordering of their sessions, kept in session order."""
    inv = np.empty_like(session_order)
    inv[session_order] = np.arange(len(session_order))
    out = _take(rom, slice(None))
    out.session = inv[rom.session]
    return _take(out, np.argsort(out.session, kind="stable"))


def _head(b: Batch, n: int) -> Batch:
    """The first ``n`` sessions of an episode-major batch, with their episodes and ROM rows."""
    sessions = _take(b.sessions, slice(0, n))
    n_ep = int(sessions.ep[-1]) + 1 if n else 0
    return Batch(_take(b.episodes, slice(0, n_ep)), sessions, _take(b.rom, b.rom.session < n), b.n_patients)


def _join(parts: Sequence[Batch]) -> Batch:
    ep_off = np.cumsum([0] + [len(p.episodes.group) for p in parts])
    s_off = np.cumsum([0] + [len(p.sessions.ep) for p in parts])
    for p, eo, so in zip(parts, ep_off, s_off, strict=False):
        p.sessions.ep = p.sessions.ep + eo
        p.rom.session = p.rom.session + so
    return Batch(
        _concat([p.episodes for p in parts]), _concat([p.sessions for p in parts]), _concat([p.rom for p in parts]),
        sum(p.n_patients for p in parts),
    )


def sized_batch(
    m: Model, spec: ClinicSpec, team: Staff, rng: np.random.Generator, win: Window, sessions: int, patient_base: int
) -> Batch:
    """Episodes drawn from the condition mix until exactly ``sessions`` visits are reached.

    Episodes are shuffled before the cut so that the last, partly kept episode is a random
    one (it then looks like a drop-out), not always a second episode.
    """
    parts: list[Batch] = []
    need, per_episode, base = sessions, 7.0, patient_base
    while need > 0:
        n_ep = max(4, math.ceil(need / per_episode * 1.05))
        b = episode_batch(m, spec, team, rng, win, _draw_shared(rng, _cdf(m.share), n_ep), base)
        base += b.n_patients
        per_episode = max(1.0, len(b.sessions.ep) / n_ep)
        b = _reorder_episodes(b, rng.permutation(len(b.episodes.group)))
        if len(b.sessions.ep) > need:
            b = _head(b, need)
        parts.append(b)
        need -= len(b.sessions.ep)
    out = _join(parts)
    out.n_patients = base - patient_base
    return out


def order_by_date(b: Batch) -> Batch:
    """Sessions in (date, episode, visit, row) order, ROM rows following their sessions."""
    s = b.sessions
    order = np.lexsort((s.sub, s.k, s.ep, s.day))
    return Batch(b.episodes, _take(s, order), _remap_rom(b.rom, order), b.n_patients)


# ---------------------------------------------------------------------------------------------
# Arrow tables
# ---------------------------------------------------------------------------------------------

_TOKEN_BITS = 28
_TOKEN_MASK = (1 << _TOKEN_BITS) - 1
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
UNKNOWN_VISIT_TYPE = "follow_up"  # deliberately bad rows only


def _tokens(prefix: str, values: np.ndarray, width: int, base: int = 10) -> pa.Array:
    """``prefix`` followed by ``values`` written with at least ``width`` digits in ``base``."""
    v = np.asarray(values, dtype=np.int64)
    top = int(v.max()) if len(v) else 0
    while base**width <= top:
        width += 1
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((len(v), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    for i in range(width):
        chars[:, len(head) + width - 1 - i] = _HEX[v % base]
        v = v // base
    return pa.array(chars.view(f"S{chars.shape[1]}").ravel(), type=pa.binary()).cast(pa.string())


def patient_tokens(numbers: np.ndarray, salt: int) -> pa.Array:
    """Pseudonymous patient tokens like ``P7F3A9C1``: a bijection of 28-bit numbers, so never two alike."""
    x = np.asarray(numbers, dtype=np.uint64)
    mask = np.uint64(_TOKEN_MASK)
    x = (x * np.uint64(0x9E3779B1) + np.uint64(salt)) & mask
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0x85EBCA77)) & mask
    x ^= x >> np.uint64(11)
    return _tokens("P", x.astype(np.int64), 7, 16)


def _labels(index: np.ndarray, labels: Sequence[str | None]) -> pa.Array:
    """Text column from category numbers (negative or a None label = missing)."""
    idx = np.asarray(index, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(list(labels), pa.string())).cast(
        pa.string()
    )


def _code_labels(m: Model) -> list[str]:
    """Every code as written: with dot, without, lower case with dot, lower case without; then a malformed one."""
    dotless = [c.replace(".", "") for c in m.codes]
    return [*m.codes, *dotless, *(c.lower() for c in m.codes), *(c.lower() for c in dotless), "M5.450"]


@dataclass
class Counters:
    """Running numbers of a clinic across blocks: next session and episode number, patients so far."""

    session: int = 1
    episode: int = 1
    patient: int = 0


def session_table(
    m: Model, spec: ClinicSpec, b: Batch, counters: Counters, salt: int, rng: np.random.Generator
) -> pa.Table:
    """The sessions of a date-ordered batch as an Arrow table in the clinic's column order and style."""
    s, ep = b.sessions, b.episodes
    n = len(s.ep)
    e = s.ep
    cols: dict[str, pa.Array] = {}
    cols["session_id"] = _tokens("V", counters.session + np.arange(n), 7)
    cols["clinic_id"] = _labels(np.zeros(n), [spec.clinic_id])
    cols["patient_id"] = patient_tokens(ep.patient[e], salt)
    if spec.episode_ids:
        rank = np.empty(len(ep.start), dtype=np.int64)
        rank[np.lexsort((np.arange(len(ep.start)), ep.start))] = np.arange(len(ep.start))
        cols["episode_id"] = _tokens("EP", counters.episode + rank[e], 6)
    cols["therapist_id"] = _tokens("T", spec.therapist_base + s.therapist, 3)
    cols["session_date"] = pa.array(s.day.astype("datetime64[D]"))
    cols["visit_type"] = _labels(s.visit, [*contract.VISIT_TYPES, UNKNOWN_VISIT_TYPE])
    style = (rng.random(n) < spec.dotless_codes) + 2 * (rng.random(n) < spec.lower_codes)
    code = np.where(s.bad_code, 4 * len(m.codes), ep.code[e] + len(m.codes) * style)
    cols["condition_code"] = _labels(code, _code_labels(m))
    cols["referral_source"] = _labels(s.referral, contract.REFERRAL_SOURCES)
    cols["payer_type"] = _labels(ep.payer[e], contract.PAYER_TYPES)
    cols["cpt_code"] = _labels(s.cpt, m.cpt)
    cols["units"] = pa.array(s.units.astype(np.int32))
    cols["duration_min"] = pa.array(s.minutes.astype(np.int32))
    cols["techniques"] = _labels(np.where(s.tech == 0, -1, s.tech), m.technique_labels)
    cols["pain_pre"] = pa.array(s.pre, type=pa.float64(), from_pandas=True)
    cols["pain_post"] = pa.array(s.post, type=pa.float64(), from_pandas=True)
    cols["function_instrument"] = _labels(s.inst, contract.FUNCTION_INSTRUMENTS)
    cols["function_score"] = pa.array(s.score, type=pa.float64(), from_pandas=True)
    cols["age_band"] = _labels(ep.age[e], contract.AGE_BANDS)
    cols["sex"] = _labels(ep.sex[e], contract.SEXES)
    weeks = ep.symptom_weeks[e]
    cols["symptom_weeks"] = pa.array(weeks.astype(np.int32), mask=weeks < 0)
    if spec.authorizations:
        cols["authorized_visits"] = pa.array(s.authorized.astype(np.int32), mask=s.authorized < 0)
    words = GOALS_STYLES[spec.goals_style]
    if words is None:
        cols["goals_documented"] = pa.array(s.goals == 1, mask=s.goals < 0)
    else:
        if words[0] not in contract.BOOLEAN_TRUE or words[1] not in contract.BOOLEAN_FALSE:
            raise ValueError(f"goals style {spec.goals_style!r} is not a contract boolean")
        cols["goals_documented"] = _labels(np.where(s.goals < 0, -1, 1 - s.goals), words)
    return pa.table({c: cols[c] for c in spec.column_order if c in cols})


def rom_table(m: Model, spec: ClinicSpec, b: Batch, session_ids: pa.Array) -> pa.Table:
    """The ROM rows of a date-ordered batch."""
    r = b.rom
    return pa.table({
        "session_id": session_ids.take(pa.array(r.session)),
        "clinic_id": _labels(np.zeros(len(r.session)), [spec.clinic_id]),
        "joint": _labels(m.pair_joint[r.pair], contract.JOINTS),
        "movement": _labels(m.pair_move[r.pair], contract.MOVEMENTS),
        "side": _labels(r.side, contract.SIDES),
        "timing": _labels(r.timing, contract.TIMINGS),
        "value": pa.array(r.value, type=pa.float64()),
    })


def export_slices(spec: ClinicSpec, win: Window, b: Batch) -> list[tuple[int, slice, slice]]:
    """(export index, session rows, ROM rows) of a date-ordered batch, one per export with sessions."""
    months = b.sessions.day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - win.first_month
    export = win.month_export[months]
    out = []
    for i in range(len(spec.periods)):
        lo, hi = np.searchsorted(export, [i, i + 1])
        if hi > lo:
            rlo, rhi = np.searchsorted(b.rom.session, [lo, hi])
            out.append((i, slice(int(lo), int(hi)), slice(int(rlo), int(rhi))))
    return out


def inject_bad_rows(rng: np.random.Generator, m: Model, b: Batch, rate: float) -> dict[str, int]:
    """Break about ``rate`` of the sessions and of the ROM rows, one contract rule each.

    Only treatment visits without ROM rows are broken, so each bad session is exactly one
    quarantined row (no ROM row loses its session) and no episode loses its evaluation.
    Returns the number of broken rows by ``<file>.<column>.<rule>``.
    """
    s, rom = b.sessions, b.rom
    counts: dict[str, int] = {}
    candidates = np.flatnonzero((s.visit == TREATMENT) & ~s.has_rom & ~np.isnan(s.pre))
    n_bad = min(len(candidates), round(rate * len(s.ep)))
    if n_bad:
        chosen = np.sort(rng.choice(candidates, n_bad, replace=False))
        kinds = np.arange(n_bad) % 4
        s.pre[chosen[kinds == 0]] = 11.0
        s.visit[chosen[kinds == 1]] = len(contract.VISIT_TYPES)
        s.minutes[chosen[kinds == 2]] = 0
        s.bad_code[chosen[kinds == 3]] = True
        for kind, name in enumerate(("sessions.pain_pre.out_of_range", "sessions.visit_type.not_in_vocabulary",
                                     "sessions.duration_min.out_of_range", "sessions.condition_code.malformed_code")):
            counts[name] = int((kinds == kind).sum())
    n_rom = min(len(rom.value), round(rate * len(rom.value)))
    if n_rom:
        chosen = rng.choice(len(rom.value), n_rom, replace=False)
        rom.value[chosen] = m.pair_max[rom.pair[chosen]] + 10 + rom.value[chosen]
        counts["rom.value.out_of_range"] = n_rom
    return counts


# ---------------------------------------------------------------------------------------------
# Writing export folders
# ---------------------------------------------------------------------------------------------


class ExportSink:
    """Writes the files of one export folder, appending tables as they come (sessions, then ROM)."""

    def __init__(self, folder: Path, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.folder, self.fmt = folder, fmt
        self._writers: dict[str, Any] = {}
        self._files: dict[str, Any] = {}
        self.rows: dict[str, int] = {"sessions": 0, "rom": 0}

    def write(self, kind: str, table: pa.Table) -> None:
        """Append ``table`` to the export's ``kind`` file (created on the first non-empty table)."""
        if table.num_rows == 0:
            return
        writer = self._writers.get(kind)
        if writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{kind}.{self.fmt}"
            if self.fmt == "parquet":
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            else:
                fh = open(path, "wb")  # noqa: SIM115 - closed in close()
                fh.write((",".join(table.schema.names) + "\n").encode("utf-8"))
                options = pacsv.WriteOptions(include_header=False, quoting_style="none")
                writer = pacsv.CSVWriter(fh, table.schema, write_options=options)
                self._files[kind] = fh
            self._writers[kind] = writer
        writer.write_table(table)
        self.rows[kind] += table.num_rows

    def close(self) -> None:
        """Finish every file of the export."""
        for kind, writer in self._writers.items():
            writer.close()
            if kind in self._files:
                self._files[kind].close()
        self._writers.clear()
        self._files.clear()


def _is_export_folder(path: Path) -> bool:
    names = {f"{kind}.{fmt}" for kind in ("sessions", "rom") for fmt in FORMATS}
    return path.is_dir() and all(p.is_file() and p.name in names for p in path.iterdir())


def prepare_inbox(out: Path) -> None:
    """Create ``out``; remove export folders an earlier generation left there, refuse anything else."""
    out.mkdir(parents=True, exist_ok=True)
    for child in sorted(out.iterdir()):
        if child.name.startswith((".", "_")):
            continue
        if not _is_export_folder(child):
            raise ValueError(f"{out} holds {child.name}, which is not an export folder; choose an empty folder")
        shutil.rmtree(child)


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


@dataclass
class ExportInfo:
    """One written export folder."""

    name: str
    clinic_id: str
    fmt: str
    sessions: int
    rom: int
    first_date: str
    last_date: str
    episode_ids: bool
    note: str = ""


@dataclass(frozen=True)
class BadRow:
    """A deliberately broken row and the contract rule it breaks."""

    export: str
    file: str
    row_number: int
    session_id: str
    rule: str
    column: str
    value: str


@dataclass
class InboxSummary:
    """What a generation wrote: exports, episodes per condition group and deliberate problems."""

    out: Path
    seed: int
    exports: list[ExportInfo] = field(default_factory=list)
    episodes_by_group: dict[str, int] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_counts: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    corrections: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        """Session rows in every export (a corrected or rejected export counts its own rows)."""
        return sum(e.sessions for e in self.exports)

    @property
    def rom_rows(self) -> int:
        """ROM rows in every export."""
        return sum(e.rom for e in self.exports)

    def report(self) -> str:
        """A plain-text account of the generation."""
        lines = [
            f"{self.out}: {len(self.exports)} exports, {self.sessions} session rows, {self.rom_rows} ROM rows "
            f"(seed {self.seed})",
        ]
        for e in self.exports:
            note = f"  [{e.note}]" if e.note else ""
            lines.append(
                f"  {e.name:<42} {e.fmt:<8} {e.sessions:>8} sessions {e.rom:>7} rom  {e.first_date}..{e.last_date}"
                f"{'  episode_id' if e.episode_ids else ''}{note}"
            )
        lines.append("episodes by condition group: " + ", ".join(f"{g} {n}" for g, n in self.episodes_by_group.items()))
        if self.bad_rows:
            lines.append(f"deliberately bad rows ({len(self.bad_rows)}):")
            lines += [f"  {b.export} {b.file} row {b.row_number} ({b.session_id}): {b.column} {b.rule} [{b.value}]"
                      for b in self.bad_rows]
        elif self.bad_counts:
            lines.append("deliberately bad rows: " + ", ".join(f"{k} {v}" for k, v in self.bad_counts.items()))
        lines += [f"rejected as a whole: {name}: {why}" for name, why in self.rejected.items()]
        lines += [f"correction: {c}" for c in self.corrections]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Benchmark inboxes
# ---------------------------------------------------------------------------------------------


def _months(start: str, n: int) -> list[str]:
    first = np.datetime64(start, "M")
    return [str(first + i) for i in range(n)]


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder, ties to the first)."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    out = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - out), kind="stable")[: total - int(out.sum())]:
        out[i] += 1
    return [int(x) for x in out]


def bench_clinics(
    sessions: int, *, seed: int = BENCH_SEED, fmt: str = "parquet", clinics: int | None = None, months: int = 12,
    start: str = "2025-09",
) -> list[tuple[ClinicSpec, int]]:
    """The clinics of a benchmark inbox and the sessions each holds.

    Without ``clinics``, there are as many clinics as keep a clinic-month export at 20,000
    sessions or more, between 1 and 20 (so 1M sessions make 4 clinics x 12 months; 10M make
    20 x 12 exports of about 42,000 sessions).
    """
    if clinics is None:
        clinics = min(20, max(1, sessions // (months * 20_000)))
    rng = np.random.default_rng([seed, 0])
    sizes = _split(sessions, rng.lognormal(0.0, 0.2, clinics))
    periods = tuple((mo, mo, mo) for mo in _months(start, months))
    out = []
    therapist_base = 1
    for c, target in enumerate(sizes, start=1):
        therapists = max(3, math.ceil(target / months / 110))
        spec = ClinicSpec(
            clinic_id=f"clinic{c:02d}", folder=f"clinic{c:02d}", periods=periods, fmt=fmt, episode_ids=c % 2 == 1,
            therapists=therapists, therapist_base=therapist_base, dotless_codes=0.9 if c % 3 == 0 else 0.0,
            lower_codes=0.02, rom_rate=float(rng.uniform(0.6, 0.85)), function_rate=float(rng.uniform(0.75, 0.95)),
            relief=float(rng.lognormal(0.0, 0.06)), half_points=float(rng.uniform(0.05, 0.3)),
            authorizations=contract.INSURED_PAYERS if c % 2 == 0 else (),
        )
        therapist_base += therapists
        out.append((spec, target))
    return out


def generate_bench(
    out: Path, sessions: int, *, seed: int = BENCH_SEED, fmt: str = "parquet", clinics: int | None = None,
    months: int = 12, start: str = "2025-09", bad_rate: float = 0.0002, block_sessions: int = 250_000,
) -> InboxSummary:
    """Write a benchmark inbox of exactly ``sessions`` sessions, one export per clinic and month.

    Each clinic is generated in blocks of at most ``block_sessions`` sessions whose rows are
    appended to the open export files, so memory does not grow with the inbox. ``bad_rate`` of
    the sessions and ROM rows break one contract rule each (0 for a clean inbox).
    """
    if sessions < 1:
        raise ValueError("sessions must be at least 1")
    m = model()
    layout = bench_clinics(sessions, seed=seed, fmt=fmt, clinics=clinics, months=months, start=start)
    prepare_inbox(out)
    summary = InboxSummary(out=out, seed=seed, episodes_by_group=dict.fromkeys(m.groups, 0))
    for ci, (spec, target) in enumerate(layout, start=1):
        win = window(spec)
        team = staff(np.random.default_rng([seed, ci, 0]), spec.therapists)
        sinks: dict[int, ExportSink] = {}
        dates: dict[int, list[int]] = {}
        counters = Counters()
        n_blocks = max(1, math.ceil(target / block_sessions))
        for bi, block_target in enumerate(_split(target, [1.0] * n_blocks), start=1):
            rng = np.random.default_rng([seed, ci, bi])
            batch = order_by_date(sized_batch(m, spec, team, rng, win, block_target, counters.patient))
            for key, count in inject_bad_rows(rng, m, batch, bad_rate).items():
                summary.bad_counts[key] = summary.bad_counts.get(key, 0) + count
            sessions_t = session_table(m, spec, batch, counters, team.patient_salt, rng)
            rom_t = rom_table(m, spec, batch, sessions_t.column("session_id").combine_chunks())
            for i, srows, rrows in export_slices(spec, win, batch):
                sink = sinks.setdefault(i, ExportSink(out / spec.export_name(i), spec.fmt))
                sink.write("sessions", sessions_t.slice(srows.start, srows.stop - srows.start))
                sink.write("rom", rom_t.slice(rrows.start, rrows.stop - rrows.start))
                span = dates.setdefault(i, [batch.sessions.day[srows.start], batch.sessions.day[srows.stop - 1]])
                span[0] = min(span[0], batch.sessions.day[srows.start])
                span[1] = max(span[1], batch.sessions.day[srows.stop - 1])
            for g, count in zip(m.groups, np.bincount(batch.episodes.group, minlength=len(m.groups)), strict=True):
                summary.episodes_by_group[g] += int(count)
            counters.session += len(batch.sessions.ep)
            counters.episode += len(batch.episodes.group)
            counters.patient += batch.n_patients
            del batch, sessions_t, rom_t
        for i in sorted(sinks):
            sinks[i].close()
            summary.exports.append(ExportInfo(
                spec.export_name(i), spec.clinic_id, spec.fmt, sinks[i].rows["sessions"], sinks[i].rows["rom"],
                _iso(dates[i][0]), _iso(dates[i][1]), spec.episode_ids,
            ))
    summary.exports.sort(key=lambda e: e.name)
    return summary


# ---------------------------------------------------------------------------------------------
# The sample inbox (data/sample)
# ---------------------------------------------------------------------------------------------

_MONTHS_2026 = [f"2026-{mo:02d}" for mo in range(2, 9)]  # February to August 2026
_EAST_COLUMNS = ("clinic_id", "patient_id", "session_id", "session_date")
SAMPLE_CLINICS: tuple[tuple[ClinicSpec, int], ...] = (
    # A practice-management system that exports every month, as CSV, with its own case numbers.
    (ClinicSpec(
        "north", "clinic-north", tuple((mo, mo, mo) for mo in _MONTHS_2026), fmt="csv", episode_ids=True,
        therapists=8, therapist_base=1, lower_codes=0.03, rom_rate=0.8, function_rate=0.9, relief=1.05,
        half_points=0.15, authorizations=("commercial", "medicare", "medicaid", "workers_comp", "auto_pip"),
    ), 250),
    # Parquet exports every few months, no case numbers (the pipeline derives episodes).
    (ClinicSpec(
        "south", "clinic-south", (("2026-02-to-04", "2026-02", "2026-04"), ("2026-05-to-08", "2026-05", "2026-08")),
        fmt="parquet", therapists=6, therapist_base=11, rom_rate=0.7, function_rate=0.85, relief=0.95,
        half_points=0.3, authorizations=("medicare", "medicaid", "workers_comp", "auto_pip"),
    ), 175),
    # CSV without case numbers, codes mostly typed without the dot, goals as yes/no, other column order.
    (ClinicSpec(
        "east", "clinic-east",
        (("2026-02-to-04", "2026-02", "2026-04"), ("2026-05", "2026-05", "2026-05"), ("2026-06-to-08", "2026-06", "2026-08")),
        fmt="csv", therapists=5, therapist_base=21, dotless_codes=0.85, lower_codes=0.06, goals_style="yesno",
        column_order=(*_EAST_COLUMNS, *(c for c in contract.SESSION_COLUMNS if c not in _EAST_COLUMNS)),
        rom_rate=0.6, function_rate=0.75, relief=1.0, half_points=0.1,
    ), 140),
)
SAMPLE_BAD_EXPORTS = ("clinic-north-2026-03", "clinic-east-2026-05", "clinic-south-2026-05-to-08")
SAMPLE_CORRECTED = "clinic-north-2026-04"
SAMPLE_CORRECTION = "clinic-north-2026-04-corrections"
SAMPLE_RESENT = "clinic-east-2026-05"
SAMPLE_REJECTED = "clinic-east-2026-05-resend-with-names"
IDENTIFIER_COLUMN = "patient_name"


@dataclass
class _Export:
    name: str
    clinic_id: str
    fmt: str
    episode_ids: bool
    schema: pa.Schema
    rom_schema: pa.Schema
    sessions: list[dict[str, Any]]
    rom: list[dict[str, Any]]
    note: str = ""


class _Problems:
    """The sample's hand-placed problems, remembered by row object until row numbers are final."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[int] = set()
        self.marks: list[tuple[str, str, dict[str, Any], str, str]] = []

    def pick(self, rows: list[dict[str, Any]], ok: Any, what: str) -> dict[str, Any]:
        """A random, not yet used row satisfying ``ok``."""
        candidates = [r for r in rows if id(r) not in self.used and ok(r)]
        if not candidates:
            raise RuntimeError(f"sample generation: no row for {what}; the model changed, adjust the sample")
        row = candidates[int(self.rng.integers(len(candidates)))]
        self.used.add(id(row))
        return row

    def mark(self, export: str, file: str, row: dict[str, Any], rule: str, column: str) -> None:
        """Remember that ``row`` breaks ``rule`` in ``column``."""
        self.marks.append((export, file, row, rule, column))

    def bad_rows(self, exports: dict[str, _Export]) -> list[BadRow]:
        """The marks with their final 1-based row numbers."""
        out = []
        for export, file, row, rule, column in self.marks:
            rows = exports[export].sessions if file == "sessions" else exports[export].rom
            number = next(i for i, r in enumerate(rows, start=1) if r is row)
            value = row[column]
            text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
            out.append(BadRow(export, file, number, row["session_id"], rule, column, text))
        return sorted(out, key=lambda b: (b.export, b.file, b.row_number))


def _plain_treatment(rom_sessions: set[str]) -> Any:
    """Rows whose breaking quarantines exactly that row: treatment visits with pain and no ROM rows."""
    return lambda r: r["visit_type"] == "treatment" and r["session_id"] not in rom_sessions and r["pain_pre"] is not None


def _break_rows(exports: dict[str, _Export], p: _Problems) -> None:
    """Rows that break one contract rule each (quarantined; their exports still load)."""
    north = exports[SAMPLE_BAD_EXPORTS[0]]
    plain = _plain_treatment({r["session_id"] for r in north.rom})
    row = p.pick(north.sessions, plain, "pain_pre 11")
    row["pain_pre"] = 11.0
    p.mark(north.name, "sessions", row, "out_of_range", "pain_pre")
    row = p.pick(north.sessions, plain, "an unknown visit type")
    row["visit_type"] = UNKNOWN_VISIT_TYPE
    p.mark(north.name, "sessions", row, "not_in_vocabulary", "visit_type")
    row = p.pick(north.sessions, plain, "a malformed code")
    bare = row["condition_code"].replace(".", "")
    row["condition_code"] = f"{bare[:2]}.{bare[2:]}"  # the dot one place too early: M5.450
    p.mark(north.name, "sessions", row, "malformed_code", "condition_code")

    east = exports[SAMPLE_BAD_EXPORTS[1]]
    rom_sessions = {r["session_id"] for r in east.rom}
    plain = _plain_treatment(rom_sessions)
    row = p.pick(east.sessions, plain, "a date before 2000")
    row["session_date"] = row["session_date"].replace(year=1926)  # 2026 typed as 1926
    p.mark(east.name, "sessions", row, "before_2000", "session_date")
    row = p.pick(east.sessions, plain, "zero minutes")
    row["duration_min"] = 0
    p.mark(east.name, "sessions", row, "out_of_range", "duration_min")
    row = p.pick(
        east.sessions,
        lambda r: r["function_score"] is not None and r["visit_type"] != "evaluation" and r["session_id"] not in rom_sessions,
        "a function score without its instrument",
    )
    row["function_instrument"] = None
    p.mark(east.name, "sessions", row, "instrument_missing", "function_instrument")
    row = p.pick(east.sessions, lambda r: plain(r) and r["pain_post"] is not None, "a duplicated session id")
    twin = dict(row)
    twin["pain_post"] = min(10.0, row["pain_post"] + 2.0)  # entered twice, with different values
    east.sessions.insert(next(i for i, r in enumerate(east.sessions) if r is row) + 1, twin)
    p.mark(east.name, "sessions", row, "duplicate_in_export", "session_id")
    p.mark(east.name, "sessions", twin, "duplicate_in_export", "session_id")

    south = exports[SAMPLE_BAD_EXPORTS[2]]
    normals = rom_normals()
    row = p.pick(south.rom, lambda r: r["joint"] == "knee", "a knee ROM row")
    row["movement"] = next(mv for mv in contract.MOVEMENTS if (row["joint"], mv) not in normals)
    p.mark(south.name, "rom", row, "invalid_for_joint", "movement")
    row = p.pick(
        south.rom, lambda r: r["value"] * 10 > normals[(r["joint"], r["movement"])][1], "an implausible ROM value"
    )
    row["value"] = row["value"] * 10  # the decimal point lost: 65.0 -> 650
    p.mark(south.name, "rom", row, "out_of_range", "value")


def _correct_rows(exports: dict[str, _Export], p: _Problems) -> tuple[_Export, list[str]]:
    """Plausible but wrong values in one export, and a later export with the corrected sessions."""
    old = exports[SAMPLE_CORRECTED]
    rom_sessions = {r["session_id"] for r in old.rom}
    plain = _plain_treatment(rom_sessions)
    rows = [
        p.pick(old.sessions, plain, "an over-billed session"),
        p.pick(old.sessions, lambda r: plain(r) and r["pain_post"] is not None and r["pain_pre"] > r["pain_post"],
               "swapped pain scores"),
        p.pick(old.sessions, lambda r: r["visit_type"] in ("reevaluation", "discharge") and r["function_score"] is not None
               and r["session_id"] not in rom_sessions, "a re-evaluation entered as a treatment"),
        p.pick(old.sessions, lambda r: plain(r) and r["duration_min"] >= 45, "minutes typed without their 0"),
    ]
    normals = rom_normals()

    def flipped(r: dict[str, Any]) -> float:
        return float(str(int(r["value"]))[::-1])

    rom_row = p.pick(
        old.rom,
        lambda r: r["timing"] == "pre" and r["value"] >= 10 and flipped(r) != r["value"]
        and flipped(r) <= normals[(r["joint"], r["movement"])][1],
        "a ROM value with swapped digits",
    )
    rom_session = next(r for r in old.sessions if r["session_id"] == rom_row["session_id"])
    fixed_ids = {r["session_id"] for r in (*rows, rom_session)}
    corrected = [dict(r) for r in old.sessions if r["session_id"] in fixed_ids]
    corrected_rom = [dict(r) for r in old.rom if r["session_id"] in fixed_ids]
    notes = []
    over, swapped, reeval, minutes = rows
    notes.append(f"{over['session_id']}: units {over['units']} (first sent as {over['units'] + 2})")
    over["units"] += 2
    notes.append(f"{swapped['session_id']}: pain_pre {swapped['pain_pre']:g} / pain_post {swapped['pain_post']:g} "
                 "(first sent swapped)")
    swapped["pain_pre"], swapped["pain_post"] = swapped["pain_post"], swapped["pain_pre"]
    notes.append(f"{reeval['session_id']}: {reeval['visit_type']} with {reeval['function_instrument']} "
                 f"{reeval['function_score']:g} (first sent as a treatment without the score)")
    reeval["visit_type"], reeval["function_instrument"], reeval["function_score"] = "treatment", None, None
    notes.append(f"{minutes['session_id']}: duration_min {minutes['duration_min']} "
                 f"(first sent as {minutes['duration_min'] // 10})")
    minutes["duration_min"] //= 10
    notes.append(f"{rom_row['session_id']}: {rom_row['joint']} {rom_row['movement']} pre {rom_row['value']:g} "
                 f"(first sent as {flipped(rom_row):g}); the export repeats all ROM rows of that session")
    rom_row["value"] = flipped(rom_row)
    export = _Export(
        SAMPLE_CORRECTION, old.clinic_id, old.fmt, old.episode_ids, old.schema, old.rom_schema, corrected, corrected_rom,
        note=f"corrects {len(corrected)} sessions of {SAMPLE_CORRECTED}",
    )
    return export, [f"{SAMPLE_CORRECTION} supersedes {n}" for n in notes]


def _with_names(resent: _Export) -> _Export:
    """The export sent again with a patient-name column: it must be rejected as a whole."""
    names: dict[str, str] = {}
    rows = []
    for r in resent.sessions:
        name = names.setdefault(r["patient_id"], f"Test Person {len(names) + 1:02d}")
        rows.append({**r, IDENTIFIER_COLUMN: name})
    at = resent.schema.get_field_index("patient_id") + 1
    schema = resent.schema.insert(at, pa.field(IDENTIFIER_COLUMN, pa.string()))
    return _Export(
        SAMPLE_REJECTED, resent.clinic_id, resent.fmt, resent.episode_ids, schema, resent.rom_schema, rows, [],
        note="must be rejected: patient_name column",
    )


def _write_export(out: Path, e: _Export) -> ExportInfo:
    sink = ExportSink(out / e.name, e.fmt)
    sink.write("sessions", pa.Table.from_pylist(e.sessions, schema=e.schema))
    if e.rom:
        sink.write("rom", pa.Table.from_pylist(e.rom, schema=e.rom_schema))
    sink.close()
    dates = sorted(r["session_date"] for r in e.sessions if r["session_date"].year >= 2000)
    return ExportInfo(e.name, e.clinic_id, e.fmt, len(e.sessions), len(e.rom), str(dates[0]), str(dates[-1]),
                      e.episode_ids, e.note)


def generate_sample(out: Path, seed: int = SAMPLE_SEED) -> InboxSummary:
    """Write the sample inbox: 3 clinics, February-August 2026, 14 exports (see docs/sample-data.md)."""
    m = model()
    shares = 0.5 * m.share + 0.5 / len(m.groups)  # every group common enough to show in the dashboards
    sizes = [n for _, n in SAMPLE_CLINICS]
    quotas = np.array([_split(q, sizes) for q in _split(sum(sizes), shares)]).T
    summary = InboxSummary(out=out, seed=seed, episodes_by_group=dict.fromkeys(m.groups, 0))
    exports: dict[str, _Export] = {}
    for ci, (spec, _) in enumerate(SAMPLE_CLINICS, start=1):
        win = window(spec)
        team = staff(np.random.default_rng([seed, ci, 0]), spec.therapists)
        rng = np.random.default_rng([seed, ci, 1])
        group = rng.permutation(np.repeat(np.arange(len(m.groups)), quotas[ci - 1]))
        batch = order_by_date(episode_batch(m, spec, team, rng, win, group, 0))
        sessions_t = session_table(m, spec, batch, Counters(), team.patient_salt, rng)
        rom_t = rom_table(m, spec, batch, sessions_t.column("session_id").combine_chunks())
        for i, srows, rrows in export_slices(spec, win, batch):
            name = spec.export_name(i)
            exports[name] = _Export(
                name, spec.clinic_id, spec.fmt, spec.episode_ids, sessions_t.schema, rom_t.schema,
                sessions_t.slice(srows.start, srows.stop - srows.start).to_pylist(),
                rom_t.slice(rrows.start, rrows.stop - rrows.start).to_pylist(),
            )
        for g, count in zip(m.groups, np.bincount(batch.episodes.group, minlength=len(m.groups)), strict=True):
            summary.episodes_by_group[g] += int(count)

    problems = _Problems(np.random.default_rng([seed, 0]))
    resent = _with_names(exports[SAMPLE_RESENT])  # the clean rows, before any problem is placed
    correction, summary.corrections = _correct_rows(exports, problems)
    _break_rows(exports, problems)
    exports[correction.name] = correction
    exports[resent.name] = resent
    prepare_inbox(out)
    for name in sorted(exports):
        summary.exports.append(_write_export(out, exports[name]))
    summary.bad_rows = problems.bad_rows(exports)
    summary.rejected[SAMPLE_REJECTED] = (
        f"has a '{IDENTIFIER_COLUMN}' column (a direct identifier): the whole export is refused and nothing of it "
        "is stored; the same sessions arrived in clinic-east-2026-05"
    )
    return summary
