-- Condition groups (metrics.md section 1): a normalised ICD-10-CM code takes the group of the
-- longest matching prefix of ref.condition_prefixes; a well-formed code that matches none is 'other'.
SELECT c.code,
       coalesce(arg_max(p.condition_group, length(p.prefix)), 'other') AS condition_group
FROM (SELECT DISTINCT condition_code AS code FROM {{ sessions }}) c
LEFT JOIN ref.condition_prefixes p ON starts_with(c.code, p.prefix)
GROUP BY c.code
