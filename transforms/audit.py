"""Payer audit flags, their summary per clinic and payer, and the restricted audit worklists (metrics.md section 8).

Clinical/billing rules (insured payers and timed CPT codes from :mod:`transforms.contract`;
episode-level flags use the episode's payer, i.e. that of session 1):

- ``UNITS_OVER_TIME`` (session): a timed code billed with more units than the CMS 8-minute rule
  allows, ``units > (duration_min + 7) // 15``;
- ``MISSING_PAIN`` (session): ``pain_pre`` or ``pain_post`` missing;
- ``NO_REFERRAL`` (episode, insured): no session names a referral source other than blank or ``self``;
- ``NO_EVALUATION`` (episode, insured): session 1 is not an ``evaluation``;
- ``NO_GOALS`` (episode, insured): no session has ``goals_documented`` true;
- ``NO_PROGRESS_NOTE`` (episode, insured): more than 10 consecutive ``treatment`` visits with no
  ``evaluation`` or ``reevaluation`` between them (a ``discharge`` visit neither counts nor resets);
- ``PLATEAU`` (episode, any payer): at least 6 sessions with ``pain_pre`` and, over the last 4 of
  them, first minus last is less than 1 point. A prompt for review, never a denial: Medicare may not
  apply an improvement standard (Jimmo v. Sebelius); skilled maintenance care is covered when documented.

Flags are prompts for a reviewer. The worklist files name episodes only by their pseudonymous
``episode_key`` and go to the restricted folder, never to the published site.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.contract import PAYER_TYPES
from transforms.episode_outcomes import TABLE as EPISODES
from transforms.thresholds import THRESHOLDS_TABLE

FLAGS_TABLE = "marts.audit_flags"
SUMMARY_TABLE = "marts.audit_summary"

# flag -> its count column in marts.audit_summary (docs/architecture.md)
FLAGS: dict[str, str] = {
    "UNITS_OVER_TIME": "units_over_time_flags",
    "MISSING_PAIN": "missing_pain",
    "NO_REFERRAL": "no_referral",
    "NO_EVALUATION": "no_evaluation",
    "NO_GOALS": "no_goals",
    "NO_PROGRESS_NOTE": "no_progress_note",
    "PLATEAU": "plateau",
}
SESSION_FLAGS = ("UNITS_OVER_TIME", "MISSING_PAIN")

WORKLIST_PREFIX = "audit_worklist_"
WORKLIST_COLUMNS = (
    "episode_key", "clinic_id", "payer_type", "flags", "n_flags", "first_date", "last_date", "n_sessions",
    "units_billed", "details",
)

_SESSION_FACTS_SQL = f"""
CREATE OR REPLACE TABLE _audit_sessions AS
SELECT s.episode_key, s.session_id, s.session_number, s.session_date, s.payer_type AS session_payer_type,
       s.cpt_code, s.units, s.duration_min, s.pain_pre, s.pain_post,
       list_contains(t.timed_cpt_codes, s.cpt_code) AS timed,
       CASE WHEN list_contains(t.timed_cpt_codes, s.cpt_code)
            THEN (s.duration_min + t.unit_rounding_minutes) // t.unit_minutes END AS units_allowed
FROM staging.sessions s
CROSS JOIN {THRESHOLDS_TABLE} t
"""

_EPISODE_FACTS_SQL = f"""
CREATE OR REPLACE TABLE _audit_episodes AS
WITH segments AS (
    SELECT episode_key, session_number, visit_type,
           sum(CASE WHEN visit_type IN ('evaluation', 'reevaluation') THEN 1 ELSE 0 END)
               OVER (PARTITION BY episode_key ORDER BY session_number ROWS UNBOUNDED PRECEDING) AS segment
    FROM staging.sessions
),
runs AS (
    SELECT episode_key, segment,
           count(*) FILTER (WHERE visit_type = 'treatment') AS run_length,
           min(session_number) FILTER (WHERE visit_type = 'treatment') AS run_first,
           max(session_number) FILTER (WHERE visit_type = 'treatment') AS run_last
    FROM segments
    GROUP BY episode_key, segment
    QUALIFY row_number() OVER (PARTITION BY episode_key ORDER BY run_length DESC, segment) = 1
),
scored AS (
    -- back_rank 1 = the last session with a pain_pre, 2 = the one before... (NULL when unscored)
    SELECT *, CASE WHEN pain_pre IS NOT NULL THEN
                  row_number() OVER (PARTITION BY episode_key, pain_pre IS NULL ORDER BY session_number DESC) END
              AS back_rank
    FROM staging.sessions
),
facts AS (
    SELECT episode_key,
           coalesce(bool_or(referral_source IS NOT NULL AND trim(referral_source) <> ''
                            AND referral_source <> 'self'), false) AS has_referral,
           coalesce(bool_or(goals_documented), false) AS has_goals,
           any_value(visit_type) FILTER (WHERE session_number = 1) AS first_visit_type,
           count(pain_pre) AS n_pain_scored,
           max(pain_pre) FILTER (WHERE back_rank = ?) AS plateau_first_pain,
           max(pain_pre) FILTER (WHERE back_rank = 1) AS plateau_last_pain,
           max(session_number) FILTER (WHERE back_rank = ?) AS plateau_first_session,
           max(session_number) FILTER (WHERE back_rank = 1) AS plateau_last_session,
           CAST(sum(units) AS BIGINT) AS units_billed
    FROM scored
    GROUP BY episode_key
)
SELECT e.episode_key, e.clinic_id, e.payer_type, e.first_date, e.last_date,
       list_contains(t.insured_payers, e.payer_type) AS insured,
       f.has_referral, f.has_goals, f.first_visit_type, f.n_pain_scored,
       f.plateau_first_pain, f.plateau_last_pain, f.plateau_first_session, f.plateau_last_session,
       r.run_length, r.run_first, r.run_last
FROM {EPISODES} e
JOIN facts f USING (episode_key)
JOIN runs r USING (episode_key)
CROSS JOIN {THRESHOLDS_TABLE} t
"""

_FLAGS_SQL = f"""
CREATE OR REPLACE TABLE {FLAGS_TABLE} AS
WITH raised AS (
    SELECT s.episode_key, 'UNITS_OVER_TIME' AS flag, s.session_id, s.session_number, s.session_date,
           s.session_payer_type,
           format('{{}} unit{{}} billed for {{}} min; the 8-minute rule allows {{}} (CPT {{}}, session {{}})',
                  s.units, CASE WHEN s.units = 1 THEN '' ELSE 's' END, s.duration_min, s.units_allowed,
                  s.cpt_code, s.session_number) AS detail
    FROM _audit_sessions s
    WHERE s.timed AND s.units > s.units_allowed
    UNION ALL
    SELECT s.episode_key, 'MISSING_PAIN', s.session_id, s.session_number, s.session_date, s.session_payer_type,
           format('pain {{}} not recorded (session {{}})',
                  CASE WHEN s.pain_pre IS NULL AND s.pain_post IS NULL
                       THEN 'before and after treatment (pain_pre, pain_post)'
                       WHEN s.pain_pre IS NULL THEN 'before treatment (pain_pre)'
                       ELSE 'after treatment (pain_post)' END,
                  s.session_number)
    FROM _audit_sessions s
    WHERE s.pain_pre IS NULL OR s.pain_post IS NULL
    UNION ALL
    SELECT a.episode_key, 'NO_REFERRAL', NULL, NULL, NULL, NULL,
           format('no session of this {{}} episode names a referral source other than self or blank',
                  a.payer_type)
    FROM _audit_episodes a
    WHERE a.insured AND NOT a.has_referral
    UNION ALL
    SELECT a.episode_key, 'NO_EVALUATION', NULL, NULL, NULL, NULL,
           format('session 1 of this {{}} episode is a {{}} visit, not an evaluation', a.payer_type,
                  a.first_visit_type)
    FROM _audit_episodes a
    WHERE a.insured AND a.first_visit_type <> 'evaluation'
    UNION ALL
    SELECT a.episode_key, 'NO_GOALS', NULL, NULL, NULL, NULL,
           format('no session of this {{}} episode has treatment goals documented', a.payer_type)
    FROM _audit_episodes a
    WHERE a.insured AND NOT a.has_goals
    UNION ALL
    SELECT a.episode_key, 'NO_PROGRESS_NOTE', NULL, NULL, NULL, NULL,
           format('{{}} treatment visits in a row (sessions {{}} to {{}}) without an evaluation or re-evaluation; '
                  'a progress note is due at least every {{}} treatment visits',
                  a.run_length, a.run_first, a.run_last, t.progress_note_max_visits)
    FROM _audit_episodes a CROSS JOIN {THRESHOLDS_TABLE} t
    WHERE a.insured AND a.run_length > t.progress_note_max_visits
    UNION ALL
    SELECT a.episode_key, 'PLATEAU', NULL, NULL, NULL, NULL,
           format('pain {{:g}} -> {{:g}} over the last {{}} scored visits (sessions {{}} to {{}}): a change of {{:g}}, '
                  'less than {{:g}} point. This is a prompt for review, not a denial: discharge the patient, or '
                  'document why skilled maintenance care is needed (Medicare may not apply an improvement '
                  'standard: Jimmo v. Sebelius)',
                  a.plateau_first_pain, a.plateau_last_pain, t.plateau_window, a.plateau_first_session,
                  a.plateau_last_session, a.plateau_first_pain - a.plateau_last_pain, t.plateau_min_change)
    FROM _audit_episodes a CROSS JOIN {THRESHOLDS_TABLE} t
    WHERE a.n_pain_scored >= t.plateau_min_sessions AND a.n_pain_scored >= t.plateau_window
      AND falls_short(a.plateau_first_pain - a.plateau_last_pain, t.plateau_min_change, t.tol)
)
SELECT r.episode_key, e.clinic_id, e.payer_type, r.flag, r.session_id, r.detail, e.first_date, e.last_date,
       CAST(r.session_number AS INTEGER) AS session_number, r.session_date, r.session_payer_type
FROM raised r
JOIN {EPISODES} e USING (episode_key)
"""


def _summary_sql() -> str:
    counts = "".join(
        f",\n           sum(CASE WHEN flag = ? THEN 1 ELSE 0 END) AS {column}" for column in FLAGS.values()
    )
    totals = "".join(f",\n       CAST(coalesce(sum(f.{column}), 0) AS BIGINT) AS {column}" for column in FLAGS.values())
    return f"""
CREATE OR REPLACE TABLE {SUMMARY_TABLE} AS
WITH units AS (
    SELECT episode_key,
           sum(units) AS units_billed,
           sum(units) FILTER (WHERE timed) AS units_billed_timed,
           sum(units_allowed) FILTER (WHERE timed) AS units_supported,
           sum(greatest(units - units_allowed, 0)) FILTER (WHERE timed) AS units_over_time
    FROM _audit_sessions
    GROUP BY episode_key
),
flags AS (
    SELECT episode_key, count(*) AS n_flags{counts}
    FROM {FLAGS_TABLE}
    GROUP BY episode_key
)
SELECT e.clinic_id, e.payer_type,
       count(*) AS n_episodes,
       count(*) FILTER (WHERE f.n_flags > 0) AS n_flagged_episodes,
       CAST(sum(e.n_sessions) AS BIGINT) AS n_sessions,
       CAST(coalesce(sum(u.units_billed), 0) AS BIGINT) AS units_billed,
       CAST(coalesce(sum(u.units_over_time), 0) AS BIGINT) AS units_over_time{totals},
       count(DISTINCT e.patient_id) AS n_patients,
       CAST(coalesce(sum(u.units_supported), 0) AS BIGINT) AS units_supported,
       CAST(coalesce(sum(u.units_billed_timed), 0) AS BIGINT) AS units_billed_timed
FROM {EPISODES} e
LEFT JOIN units u USING (episode_key)
LEFT JOIN flags f USING (episode_key)
GROUP BY e.clinic_id, e.payer_type
ORDER BY e.clinic_id, e.payer_type
"""


def build_audit_flags(con: duckdb.DuckDBPyConnection, plateau_window: int) -> int:
    """Section 8: one row per raised flag, each with a human-readable detail; returns the row count.

    Needs ``marts.episode_outcomes`` and ``_thresholds``; ``plateau_window`` is the number of last
    scored visits the plateau rule compares (``Settings.plateau_window``).
    """
    con.execute(_SESSION_FACTS_SQL)
    con.execute(_EPISODE_FACTS_SQL, [int(plateau_window), int(plateau_window)])
    con.execute(_FLAGS_SQL)
    return con.execute(f"SELECT count(*) FROM {FLAGS_TABLE}").fetchall()[0][0]


def build_audit_summary(con: duckdb.DuckDBPyConnection) -> int:
    """Section 8: per clinic and payer, episodes, flagged episodes, sessions, units and one count per flag.

    Units over time = units billed beyond what the minutes support (timed codes); flag counts are
    sessions for session flags and episodes for episode flags. Run after :func:`build_audit_flags`.
    """
    con.execute(_summary_sql(), list(FLAGS))
    for temp in ("_audit_sessions", "_audit_episodes"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    return con.execute(f"SELECT count(*) FROM {SUMMARY_TABLE}").fetchall()[0][0]


# One payer type's worklist. Flags and details are sorted inside lists (not by ordered aggregates),
# so the aggregation can spill to disk at ten million sessions; COPY streams the rows to the file.
_WORKLIST_SQL = f"""
COPY (
    SELECT f.episode_key, f.clinic_id, f.payer_type,
           array_to_string(list_sort(list(DISTINCT f.flag)), ';') AS flags,
           count(*) AS n_flags,
           f.first_date, f.last_date, e.n_sessions, e.units_billed,
           array_to_string(
               list_transform(list_sort(list({{'flag': f.flag, 'session': f.session_number,
                                               'text': f.flag || ': ' || f.detail}})), lambda x: x.text),
               ' | ') AS details
    FROM {FLAGS_TABLE} f
    JOIN {EPISODES} e USING (episode_key)
    WHERE f.payer_type = ?
    GROUP BY f.payer_type, f.episode_key, f.clinic_id, f.first_date, f.last_date, e.n_sessions, e.units_billed
    ORDER BY f.clinic_id, f.first_date, f.episode_key
) TO ? (HEADER)
"""


def write_audit_worklists(
    con: duckdb.DuckDBPyConnection, restricted_dir: Path, *, site: Path | None = None
) -> list[Path]:
    """Section 8/11: one CSV per payer type of flagged episodes, written to the *restricted* folder only.

    Rows: pseudonymous ``episode_key``, clinic, flags, number of flags, first/last dates, sessions,
    units billed and the flags' details. Worklists of an earlier run are replaced; payer types
    without a flagged episode get no file. Given the public ``site`` folder, refuses a restricted
    folder inside it (or containing it). Returns the files written.
    """
    restricted_dir = Path(restricted_dir)
    if site is not None:
        r, s = restricted_dir.resolve(), Path(site).resolve()
        if r == s or s in r.parents or r in s.parents:
            raise ValueError(f"audit worklists name episodes: {restricted_dir} must not be in or around the site {site}")
    restricted_dir.mkdir(parents=True, exist_ok=True)
    for old in restricted_dir.glob(f"{WORKLIST_PREFIX}*.csv"):
        old.unlink()
    payers = [p for (p,) in con.execute(f"SELECT DISTINCT payer_type FROM {FLAGS_TABLE} ORDER BY 1").fetchall()]
    written = []
    for payer in payers:
        if payer not in PAYER_TYPES:  # file names come from the contract's vocabulary only
            raise ValueError(f"unexpected payer type {payer!r} in {FLAGS_TABLE}")
        path = restricted_dir / f"{WORKLIST_PREFIX}{payer}.csv"
        con.execute(_WORKLIST_SQL, [payer, str(path)])
        written.append(path)
    return written
