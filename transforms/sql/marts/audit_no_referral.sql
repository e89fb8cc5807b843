-- NO_REFERRAL (necessity tier, episode flag; metrics.md section 8): no session of the episode names
-- a referral_source other than empty or 'self'. Insured payers cover massage on a provider's
-- referral or prescription (e.g. Premera 8.03.502: a diagnosis-specific prescription); FSA/HSA
-- plans reimburse massage only with a letter of medical necessity (IRS Publication 502).
-- Whether the flag applies to the episode's payer is decided in marts/audit_flags.sql.
WITH facts AS (
    SELECT episode_key, count(*) AS n_sessions,
           coalesce(bool_or(nullif(trim(referral_source), '') IS NOT NULL AND referral_source <> 'self'), false)
               AS has_referral,
           count(*) FILTER (WHERE referral_source = 'self') AS n_self,
           CAST(list(session_number ORDER BY session_number) AS INTEGER[]) AS all_sessions
    FROM {{ sessions }}
    GROUP BY episode_key
)
SELECT f.episode_key, 'NO_REFERRAL' AS flag, CAST(NULL AS VARCHAR) AS session_id,
       CAST(NULL AS INTEGER) AS session_number, CAST(NULL AS DATE) AS session_date,
       CAST(NULL AS VARCHAR) AS session_payer_type,
       f.all_sessions AS evidence_sessions, f.all_sessions AS risk_sessions,
       CAST(NULL AS INTEGER) AS day_excess_units,
       format('none of the {} visits names a referral source other than self ({} say self, {} are empty){}',
              f.n_sessions, f.n_self, f.n_sessions - f.n_self,
              CASE WHEN e.payer_type = 'fsa_hsa'
                   THEN ': no letter of medical necessity on file, which an FSA/HSA plan needs to reimburse massage'
                   ELSE ': no referral or prescription on file' END) AS detail
FROM facts f
JOIN {{ episodes }} e USING (episode_key)
WHERE NOT f.has_referral
