"""The session export contract (export-format.md, version 1.1) as data.

Column lists, vocabularies and identifier patterns are defined once here and used by the
reader (:mod:`transforms.exports`), the quality suites (``expectations/``) and the sample
data generator.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_COLUMNS: tuple[str, ...] = (
    "session_id", "clinic_id", "patient_id", "episode_id", "therapist_id", "session_date",
    "visit_type", "condition_code", "referral_source", "payer_type", "cpt_code", "units",
    "duration_min", "techniques", "pain_pre", "pain_post", "function_instrument",
    "function_score", "age_band", "sex", "symptom_weeks", "goals_documented", "authorized_visits",
)
SESSION_REQUIRED: tuple[str, ...] = (
    "session_id", "clinic_id", "patient_id", "therapist_id", "session_date", "visit_type",
    "condition_code", "payer_type", "cpt_code", "units", "duration_min", "age_band", "sex",
)
ROM_COLUMNS: tuple[str, ...] = ("session_id", "clinic_id", "joint", "movement", "side", "timing", "value")
ROM_REQUIRED: tuple[str, ...] = ROM_COLUMNS

FILE_COLUMNS: dict[str, tuple[str, ...]] = {"sessions": SESSION_COLUMNS, "rom": ROM_COLUMNS}
FILE_REQUIRED: dict[str, tuple[str, ...]] = {"sessions": SESSION_REQUIRED, "rom": ROM_REQUIRED}

VISIT_TYPES = ("evaluation", "treatment", "reevaluation", "discharge")
REFERRAL_SOURCES = ("physician", "chiropractor", "physical_therapist", "other_provider", "self")
PAYER_TYPES = ("commercial", "medicare", "medicaid", "workers_comp", "auto_pip", "fsa_hsa", "self_pay")
INSURED_PAYERS = ("commercial", "medicare", "medicaid", "workers_comp", "auto_pip")
TIMED_CPT_CODES = ("97110", "97112", "97124", "97140", "97530")
TECHNIQUES = (
    "trigger_point", "myofascial_release", "neuromuscular", "deep_tissue", "lymphatic_drainage",
    "swedish", "stretching", "pnf", "cupping", "instrument_assisted", "other",
)
FUNCTION_INSTRUMENTS = ("ODI", "NDI", "QuickDASH", "LEFS", "PSFS", "FIQR", "HIT6", "BCTQ", "FFI", "KOOS", "JFLS")
AGE_BANDS = ("0-17", "18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
SEXES = ("F", "M", "X", "U")
BOOLEAN_TRUE = ("true", "1", "yes")
BOOLEAN_FALSE = ("false", "0", "no")
JOINTS = ("cervical", "thoracic", "lumbar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "tmj")
MOVEMENTS = (
    "flexion", "extension", "lateral_flexion", "rotation", "abduction", "adduction", "internal_rotation",
    "external_rotation", "radial_deviation", "ulnar_deviation", "dorsiflexion", "plantarflexion", "opening",
)
SIDES = ("left", "right", "na")
TIMINGS = ("pre", "post")

EARLIEST_SESSION_DATE = "2000-01-01"
DURATION_MIN_RANGE = (1, 240)
PAIN_RANGE = (0, 10)

# Column names that suggest a direct identifier (HIPAA Safe Harbor). A column whose
# normalised name equals one of these, or contains one of the *fragments*, rejects the export.
IDENTIFIER_COLUMN_NAMES = (
    "name", "first_name", "last_name", "surname", "given_name", "full_name", "patient_name", "email",
    "e_mail", "phone", "telephone", "mobile", "cell", "fax", "ssn", "social_security", "address", "street",
    "city", "zip", "zipcode", "zip_code", "postcode", "postal_code", "dob", "birth", "birthdate",
    "date_of_birth", "mrn", "medical_record", "notes", "note", "comment", "comments", "ip_address",
    "url", "license", "licence", "account", "insurance_id", "member_id", "policy_number",
)
IDENTIFIER_COLUMN_FRAGMENTS = (
    "name", "email", "e_mail", "phone", "ssn", "address", "street", "zip", "birth", "dob", "mrn",
    "note", "comment", "fax", "postal", "social_sec",
)


@dataclass(frozen=True)
class IdentifierPattern:
    """A regular expression (DuckDB/RE2 syntax, full match) for an identifier-looking value."""

    kind: str
    regex: str


# Values of patient_id / therapist_id that look like a direct identifier reject the export.
# Checked in this order; the first that matches names the kind in the rejection reason.
IDENTIFIER_VALUE_PATTERNS: tuple[IdentifierPattern, ...] = (
    IdentifierPattern("e-mail address", r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    IdentifierPattern("SSN", r"[0-9]{3}-?[0-9]{2}-?[0-9]{4}"),
    IdentifierPattern("date", r"([0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2})|([0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})"),
    IdentifierPattern("phone number", r"\+?[0-9][0-9 ().\-]{8,}[0-9]"),
)
IDENTIFIER_VALUE_COLUMNS = ("patient_id", "therapist_id")


def is_identifier_column(name: str) -> bool:
    """True when a (normalised) column name suggests a direct identifier."""
    n = name.strip().lower().replace("-", "_").replace(" ", "_")
    if n in FILE_COLUMNS["sessions"] or n in FILE_COLUMNS["rom"]:
        return False
    return n in IDENTIFIER_COLUMN_NAMES or any(frag in n for frag in IDENTIFIER_COLUMN_FRAGMENTS)
