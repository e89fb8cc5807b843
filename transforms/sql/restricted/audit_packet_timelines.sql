-- The visit timelines of the flagged episodes of the clinics in $1 (a list), for their audit packets
-- (restricted folder only), one row per visit in the packets' order (the packet's group_rank, the
-- episode's review_rank, then session number). `row_html` is the visit's row of the timeline table:
-- visit, session id, date, visit type, CPT code, units, minutes, pain before and after, the function
-- score, goals, the referral source, the authorised visits recorded at the visit and the
-- authorisation in force (the latest value recorded at or before it, metrics.md section 8), and the
-- flags citing the visit as evidence (in flag order) or putting its units at risk, which also mark
-- the row (`evidence`, `at-risk`); every text from the data is HTML-escaped. The pain scores come
-- too, for the episode's pain chart. One row per visit, not per episode, so that the sort streams
-- (and spills) however many episodes are flagged.
-- Pseudonymous ids only: the episode key and the session id; no patient or therapist id.
WITH ordered AS (
    SELECT episode_key,
           dense_rank() OVER (ORDER BY payer_type, clinic_id) AS group_rank,
           row_number() OVER (PARTITION BY payer_type, clinic_id
                              ORDER BY top_tier_rank, units_at_risk DESC, first_date, episode_key) AS review_rank
    FROM marts.audit_episodes
    WHERE list_contains($1, clinic_id)
),
flag_visits AS (
    SELECT DISTINCT f.episode_key, f.flag, f.flag_rank, n.session_number, n.kind
    FROM marts.audit_flags f
    CROSS JOIN LATERAL (
        SELECT unnest(f.evidence_sessions) AS session_number, 'evidence' AS kind
        UNION ALL
        SELECT unnest(f.risk_sessions), 'risk'
    ) n
    WHERE list_contains($1, f.clinic_id)
),
marks AS (
    SELECT episode_key, session_number,
           string_agg(flag, ', ' ORDER BY flag_rank) FILTER (WHERE kind = 'evidence') AS cited_by,
           bool_or(kind = 'risk') AS at_risk
    FROM flag_visits
    GROUP BY episode_key, session_number
),
visits AS (
    SELECT s.episode_key, s.session_number, s.session_id, s.session_date, s.visit_type, s.cpt_code, s.units,
           s.duration_min, s.pain_pre, s.pain_post, s.function_instrument, s.function_score,
           s.goals_documented, s.referral_source, s.authorized_visits,
           last_value(s.authorized_visits IGNORE NULLS) OVER (
               PARTITION BY s.episode_key ORDER BY s.session_number ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS authorised_in_force
    FROM {{ sessions }} s
    WHERE list_contains($1, s.clinic_id)  -- lets the scan skip other clinics' rows
      AND s.episode_key IN (SELECT episode_key FROM ordered)
),
cells AS (
    SELECT v.*, m.cited_by IS NOT NULL AS cited, coalesce(m.at_risk, false) AS at_risk,
           html_number(v.authorized_visits) AS recorded, html_number(v.authorised_in_force) AS in_force,
           CASE WHEN v.function_score IS NULL OR isnan(v.function_score) THEN ''
                ELSE trim(coalesce(v.function_instrument, '') || ' ' || html_number(v.function_score)) END AS function_text,
           m.cited_by
    FROM visits v
    LEFT JOIN marks m USING (episode_key, session_number)
),
rows AS (
    SELECT episode_key, session_number, pain_pre, pain_post,
           '<tr' || CASE WHEN cited AND at_risk THEN ' class=''evidence at-risk'''
                         WHEN cited THEN ' class=''evidence'''
                         WHEN at_risk THEN ' class=''at-risk''' ELSE '' END
           || ' data-visit=''' || session_number || '''>'
           || '<td>' || session_number || '</td>'
           || '<td>' || html_text(session_id) || '</td>'
           || '<td>' || left(CAST(session_date AS VARCHAR), 10) || '</td>'
           || '<td>' || html_text(coalesce(visit_type, '')) || '</td>'
           || '<td>' || html_text(coalesce(cpt_code, '')) || '</td>'
           || '<td>' || html_number(units) || '</td>'
           || '<td>' || html_number(duration_min) || '</td>'
           || '<td>' || html_number(pain_pre) || '</td>'
           || '<td>' || html_number(pain_post) || '</td>'
           || '<td>' || html_text(function_text) || '</td>'
           || '<td>' || CASE WHEN goals_documented IS NULL THEN '' WHEN goals_documented THEN 'yes' ELSE 'no' END
           || '</td>'
           || '<td>' || html_text(coalesce(referral_source, '')) || '</td>'
           || '<td>' || CASE WHEN recorded = '' AND in_force = '' THEN ''
                             ELSE (CASE WHEN recorded = '' THEN '–' ELSE recorded END) || ' / '
                                  || (CASE WHEN in_force = '' THEN '–' ELSE in_force END) END || '</td>'
           || '<td class=cites>' || html_text(coalesce(cited_by, '') || CASE WHEN at_risk THEN ' · units at risk' ELSE '' END)
           || '</td></tr>' AS row_html
    FROM cells
)
SELECT o.group_rank, o.review_rank, r.episode_key, r.session_number, r.pain_pre, r.pain_post, r.row_html
FROM rows r
JOIN ordered o USING (episode_key)
ORDER BY o.group_rank, o.review_rank, r.session_number
