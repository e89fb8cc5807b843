-- UNITS_OVER_TIME (billing tier, session flag; metrics.md section 8): the CMS 8-minute rule
-- (Medicare Claims Processing Manual, chapter 5) applied per patient and day. Over every row of one
-- (clinic_id, patient_id, session_date) with a timed CPT code (97110, 97112, 97124, 97140, 97530),
-- whatever its episode or payer, the units billed may not exceed (total minutes + 7) // 15:
-- 8 to 22 minutes support 1 unit, 23 to 37 two, 38 to 52 three. Untimed codes are left out.
-- Every timed row of an over-billed day is raised and carries the day's excess units; the excess
-- is counted once per day in marts.audit_episodes. Whether the flag applies to a row's episode
-- payer is decided in marts/audit_flags.sql (ref.audit_payer_rules).
-- A patient-day lies within one patient: a rebuild scoped to whole patients stays correct.
WITH timed AS (
    SELECT s.episode_key, s.session_id, s.session_number, s.session_date, s.clinic_id, s.patient_id,
           s.payer_type, s.cpt_code, s.units, s.duration_min
    FROM {{ sessions }} s
    CROSS JOIN _thresholds t
    WHERE list_contains(t.timed_cpt_codes, s.cpt_code)
),
days AS (
    -- one row per patient-day with a timed code: its totals
    SELECT clinic_id, patient_id, session_date,
           CAST(sum(units) AS INTEGER) AS day_units,
           CAST(sum(duration_min) AS INTEGER) AS day_minutes
    FROM timed
    GROUP BY clinic_id, patient_id, session_date
),
over_billed AS (
    -- the rule: units billed beyond what the day's total minutes support
    SELECT d.*, CAST((d.day_minutes + t.unit_rounding_minutes) // t.unit_minutes AS INTEGER) AS day_allowed
    FROM days d
    CROSS JOIN _thresholds t
    WHERE d.day_units > (d.day_minutes + t.unit_rounding_minutes) // t.unit_minutes
),
over_rows AS (
    SELECT s.*, o.day_units, o.day_minutes, o.day_allowed
    FROM timed s
    JOIN over_billed o USING (clinic_id, patient_id, session_date)
),
day_rows AS (
    -- the timed rows of each over-billed day, in session_id order, for the detail
    SELECT clinic_id, patient_id, session_date,
           list({'session_id': session_id, 'episode_key': episode_key, 'session_number': session_number,
                 'cpt_code': cpt_code, 'units': units, 'duration_min': duration_min} ORDER BY session_id) AS day_rows
    FROM over_rows
    GROUP BY clinic_id, patient_id, session_date
)
SELECT o.episode_key, 'UNITS_OVER_TIME' AS flag, o.session_id, CAST(o.session_number AS INTEGER) AS session_number,
       o.session_date, o.payer_type AS session_payer_type,
       CAST(list_transform(list_filter(d.day_rows, lambda r: r.episode_key = o.episode_key),
                           lambda r: r.session_number) AS INTEGER[]) AS evidence_sessions,
       CAST([] AS INTEGER[]) AS risk_sessions,
       CAST(o.day_units - o.day_allowed AS INTEGER) AS day_excess_units,
       format('day total {} minutes supports {} unit{}, {} billed ({} excess) on {}; timed rows that day: {}',
              o.day_minutes, o.day_allowed, CASE WHEN o.day_allowed = 1 THEN '' ELSE 's' END, o.day_units,
              o.day_units - o.day_allowed, strftime(o.session_date, '%Y-%m-%d'),
              array_to_string(list_transform(d.day_rows, lambda r: format(
                  '{} CPT {} {} unit{} {} min',
                  CASE WHEN r.episode_key = o.episode_key THEN format('visit {} ({})', r.session_number, r.session_id)
                       ELSE format('session {} of episode {}', r.session_id, r.episode_key) END,
                  r.cpt_code, r.units, CASE WHEN r.units = 1 THEN '' ELSE 's' END, r.duration_min)), '; ')
       ) AS detail
FROM over_rows o
JOIN day_rows d USING (clinic_id, patient_id, session_date)
