"""Per-episode pain outcomes and sessions to relief (metrics.md sections 3-4): ``marts.episode_outcomes``.

Clinical rules, per episode (one row each; its clinic, patient, therapist, condition group, payer,
age band, sex and symptom weeks are those of session 1):

- baseline pain = ``pain_pre`` of session 1; final pain = ``pain_pre`` of the latest session with
  ``session_number >= 2`` that has one (pre-treatment scores at later visits measure sustained
  relief; post-treatment scores only the transient effect of one visit);
- pain-evaluable: both present; sustained change = baseline - final (positive = better);
  ``pain_change_pct`` = change / baseline as a *fraction* (0.3 = 30 %), null at baseline 0;
- responder: change >= 2 points and >= 30 % of baseline; substantial responder: a responder with
  >= 50 % (null when not pain-evaluable; false at baseline 0);
- relief-evaluable: baseline >= 3 and a later ``pain_pre``; relief is first seen at the first
  session k >= 2 with ``pain_pre <= baseline - 2`` and ``pain_pre <= 0.7 x baseline``;
  ``sessions_to_relief`` = k - 1; an unrelieved episode is censored (never dropped) at m - 1, m the
  last session >= 2 with a ``pain_pre``.

Thresholds are decided with the section 7 tolerance (:mod:`transforms.thresholds`).
"""

from __future__ import annotations

import duckdb

from transforms.thresholds import THRESHOLDS_TABLE

TABLE = "marts.episode_outcomes"

EPISODE_OUTCOMES_SQL = f"""
CREATE OR REPLACE TABLE {TABLE} AS
WITH first_session AS (
    SELECT episode_key, clinic_id, patient_id, therapist_id, condition_group, payer_type, age_band, sex,
           symptom_weeks, pain_pre AS baseline_pain
    FROM staging.sessions
    WHERE session_number = 1
),
per_episode AS (
    SELECT
        s.episode_key,
        count(*) AS n_sessions,
        min(s.session_date) AS first_date,
        max(s.session_date) AS last_date,
        arg_max(s.pain_pre, s.session_number)
            FILTER (WHERE s.session_number >= 2 AND s.pain_pre IS NOT NULL) AS final_pain,
        CAST(max(s.session_number) FILTER (WHERE s.session_number >= 2 AND s.pain_pre IS NOT NULL) AS INTEGER)
            AS final_pain_session,
        CAST(min(s.session_number) FILTER (
            WHERE s.session_number >= 2
              AND meets_max(s.pain_pre, f.baseline_pain - t.relief_min_points, t.tol)
              AND meets_max(s.pain_pre, t.relief_max_fraction * f.baseline_pain, t.tol)
        ) AS INTEGER) AS relief_session,
        count(*) FILTER (WHERE s.pain_pre IS NOT NULL AND s.pain_post IS NOT NULL) AS n_immediate,
        det_sum(s.pain_pre - s.pain_post) AS sum_immediate_change,
        CAST(sum(s.units) AS BIGINT) AS units_billed
    FROM staging.sessions s
    JOIN first_session f USING (episode_key)
    CROSS JOIN {THRESHOLDS_TABLE} t
    GROUP BY s.episode_key
),
changes AS (
    SELECT f.*, p.* EXCLUDE (episode_key),
           f.baseline_pain IS NOT NULL AND p.final_pain IS NOT NULL AS pain_evaluable,
           f.baseline_pain - p.final_pain AS pain_change,
           CASE WHEN f.baseline_pain > 0 THEN (f.baseline_pain - p.final_pain) / f.baseline_pain END
               AS pain_change_pct
    FROM first_session f
    JOIN per_episode p USING (episode_key)
),
decided AS (
    SELECT c.*,
           CASE WHEN c.pain_evaluable THEN coalesce(
               meets_min(c.pain_change, t.responder_min_points, t.tol)
               AND meets_min(c.pain_change_pct, t.responder_min_fraction, t.tol), false) END AS responder,
           CASE WHEN c.pain_evaluable THEN coalesce(
               meets_min(c.pain_change, t.responder_min_points, t.tol)
               AND meets_min(c.pain_change_pct, t.responder_min_fraction, t.tol)
               AND meets_min(c.pain_change_pct, t.substantial_min_fraction, t.tol), false) END
               AS substantial_responder,
           coalesce(meets_min(c.baseline_pain, t.relief_min_baseline, t.tol)
                    AND c.final_pain_session IS NOT NULL, false) AS relief_evaluable
    FROM changes c
    CROSS JOIN {THRESHOLDS_TABLE} t
)
SELECT
    episode_key, clinic_id, patient_id, condition_group, payer_type, n_sessions, first_date, last_date,
    baseline_pain, final_pain, pain_change, pain_change_pct, responder, substantial_responder,
    relief_evaluable,
    CASE WHEN relief_evaluable THEN relief_session IS NOT NULL END AS relieved,
    CAST(CASE WHEN relief_evaluable AND relief_session IS NOT NULL THEN relief_session - 1 END AS INTEGER)
        AS sessions_to_relief,
    CAST(CASE WHEN relief_evaluable AND relief_session IS NULL THEN final_pain_session - 1 END AS INTEGER)
        AS censored_at,
    therapist_id, age_band, sex, symptom_weeks,
    CAST(date_trunc('month', first_date) AS DATE) AS start_month,
    pain_evaluable, final_pain_session, n_immediate, sum_immediate_change, units_billed
FROM decided
ORDER BY clinic_id, episode_key
"""


def build_episode_outcomes(con: duckdb.DuckDBPyConnection) -> int:
    """Sections 3-4: one row per episode with baseline, final, sustained change, responder and relief.

    Needs ``_thresholds`` (:func:`transforms.thresholds.install_thresholds`); returns the row count.
    """
    con.execute(EPISODE_OUTCOMES_SQL)
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
