-- The units outcomes are reported for (metrics.md sections 3-4 per condition group and 'all'; the
-- director's breakdowns by clinic, therapist, month of episode start, and clinic and month): every
-- episode appears once
-- per breakdown, tagged with its unit there. `unit` is a text key ('-' for the whole warehouse);
-- the typed unit columns are null where a breakdown does not use them. A therapist is a unit within
-- its clinic (pseudonymous therapist ids are scoped to the clinic, like patient ids). Kept as
-- intermediate.outcome_units (episode level) so that a monthly run recomputes only the units whose
-- episodes changed.
SELECT b.breakdown,
       CASE b.breakdown WHEN 'condition' THEN '-'
                        WHEN 'clinic' THEN e.clinic_id
                        WHEN 'therapist' THEN e.clinic_id || chr(31) || e.therapist_id
                        WHEN 'clinic_month' THEN e.clinic_id || chr(31) || strftime(e.start_month, '%Y-%m')
                        ELSE strftime(e.start_month, '%Y-%m') END AS unit,
       CASE WHEN b.breakdown IN ('clinic', 'therapist', 'clinic_month') THEN e.clinic_id END AS unit_clinic_id,
       CASE WHEN b.breakdown = 'therapist' THEN e.therapist_id END AS unit_therapist_id,
       CASE WHEN b.breakdown IN ('month', 'clinic_month') THEN e.start_month END AS unit_month,
       e.episode_key, e.clinic_id, e.patient_id, e.condition_group, e.n_sessions, e.pain_evaluable, e.final_pain,
       e.baseline_pain, e.pain_change, e.responder, e.substantial_responder, e.n_immediate,
       e.sum_immediate_change, e.relief_evaluable, e.relieved, e.sessions_to_relief, e.censored_at
FROM {{ episodes }} e
CROSS JOIN (VALUES ('condition'), ('clinic'), ('therapist'), ('month'), ('clinic_month')) AS b(breakdown)
