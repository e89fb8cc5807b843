-- Episodes given by the clinic (episode_id) may hold sessions of several patients: every patient
-- who shares a given episode with an affected patient, before or after the change, is affected
-- too, so that the episode is rebuilt whole (metrics.md section 2: session numbers run over the
-- whole episode). Derived episodes never cross patients.
WITH affected_episodes AS (
    SELECT DISTINCT s.clinic_id, s.episode_id
    FROM staging.sessions s JOIN {{ patients }} p USING (clinic_id, patient_id)
    WHERE s.episode_id IS NOT NULL
    UNION
    SELECT DISTINCT r.clinic_id, r.episode_id
    FROM raw.sessions r JOIN {{ patients }} p USING (clinic_id, patient_id)
    WHERE r.episode_id IS NOT NULL
)
SELECT DISTINCT s.clinic_id, s.patient_id
FROM staging.sessions s JOIN affected_episodes e USING (clinic_id, episode_id)
UNION
SELECT DISTINCT r.clinic_id, r.patient_id
FROM raw.sessions r JOIN affected_episodes e USING (clinic_id, episode_id)
