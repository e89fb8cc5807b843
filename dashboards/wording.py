"""Every threshold a page states, in words, from the run's settings (never a literal in a page).

Changing a setting (``OUTCOMES_RESPONDER_MIN_FRACTION=0.35``) changes the tables *and* every sentence,
label and hover text that names the threshold: pages call these functions instead of writing
"≥30%". CMS constants that are not settings (the 8-minute rule's 15-minute unit) live with the
audit rules, not here.
"""

from __future__ import annotations

from decimal import Decimal

from transforms.config import Settings
from transforms.thresholds import PRIMARY_TECHNIQUE_MIN_SHARE


def number(value: Decimal | float | int) -> str:
    """A setting as a short number: ``Decimal('2')`` -> ``2``, ``Decimal('2.50')`` -> ``2.5``."""
    d = Decimal(str(value)).normalize()
    return format(d, "f")


def percent(fraction: Decimal | float) -> str:
    """A fraction setting as a percentage: ``0.30`` -> ``30%``, ``0.325`` -> ``32.5%``."""
    return number(Decimal(str(fraction)) * 100) + "%"


def responder_rule(s: Settings) -> str:
    """Short label: ``≥2 points and ≥30%``."""
    return f"≥{number(s.responder_min_points)} points and ≥{percent(s.responder_min_fraction)}"


def responder_sentence(s: Settings) -> str:
    """``improved by at least 2 points and 30% of their baseline``."""
    return (f"improved by at least {number(s.responder_min_points)} points and "
            f"{percent(s.responder_min_fraction)} of their baseline")


def substantial_rule(s: Settings) -> str:
    """Short label: ``≥50%``."""
    return f"≥{percent(s.substantial_min_fraction)}"


def relief_rule(s: Settings) -> str:
    """``a pre-treatment pain score at least 2 points below baseline and at most 70% of it (baseline ≥3)``."""
    return (f"a pre-treatment pain score at least {number(s.relief_min_points)} points below baseline and at most "
            f"{percent(s.relief_max_fraction)} of it (episodes with a baseline of at least "
            f"{number(s.relief_min_baseline)})")


def report_time_label(t: int) -> str:
    """Column label of cumulative relief at a report time: ``Relieved by 4``."""
    return f"Relieved by {int(t)}"


def suppression_rule(s: Settings) -> str:
    """``fewer than 11 patients``."""
    return f"fewer than {int(s.suppression_threshold)} patients"


def episode_gap(s: Settings) -> str:
    """``more than 90 days``."""
    return f"more than {int(s.episode_gap_days)} days"


def follow_up_active(s: Settings) -> str:
    """``within 30 days of its clinic's latest session``."""
    return f"within {int(s.follow_up_active_days)} days of its clinic's latest session"


def flare_rule(s: Settings) -> str:
    """``pain after treatment at least 2 points above pain before it``."""
    return f"pain after treatment at least {number(s.flare_min_points)} points above pain before it"


def progress_note_rule(s: Settings) -> str:
    """``more than 10 treatment visits in a row without a (re-)evaluation``."""
    return f"more than {int(s.progress_note_max_visits)} treatment visits in a row without a (re-)evaluation"


def plateau_rule(s: Settings) -> str:
    """``at least 6 scored visits, and less than 1 point of change over the last 4``."""
    return (f"at least {int(s.plateau_min_sessions)} scored visits, and less than "
            f"{number(s.plateau_min_change)} point of change over the last {int(s.plateau_window)}")


def recertification_rule(s: Settings) -> str:
    """``more than 90 days after the latest (re-)evaluation``."""
    return f"more than {int(s.recertification_days)} days after the latest (re-)evaluation"


def care_after_goal_rule(s: Settings) -> str:
    """``at least 4 treatment visits after relief without a re-evaluation``."""
    return f"at least {int(s.care_after_goal_visits)} treatment visits after relief without a re-evaluation"


def follow_up_rule(s: Settings) -> str:
    """``discharged: a discharge visit; active: no discharge, last visit within 30 days of its clinic's latest
    session; lost to follow-up: neither``."""
    return (f"discharged: the episode has a discharge visit; active: no discharge, and its last visit is "
            f"{follow_up_active(s)}; lost to follow-up: neither")


def ipw_cap(s: Settings) -> str:
    """``capped at 20``: the largest weight one followed-up patient can carry."""
    return f"capped at {number(s.ipw_max_weight)}"


def primary_technique_rule() -> str:
    """``listed at 50% or more of the episode's visits that list any technique`` (the share is the
    specification's, :data:`transforms.thresholds.PRIMARY_TECHNIQUE_MIN_SHARE`, not a setting)."""
    return f"listed at {percent(PRIMARY_TECHNIQUE_MIN_SHARE)} or more of the episode's visits that list any technique"


def flare_label(s: Settings) -> str:
    """Short label: ``pain after ≥2 points above pain before``."""
    return f"pain after ≥{number(s.flare_min_points)} points above pain before"
