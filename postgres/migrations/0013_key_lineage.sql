-- A key's lineage: the id of the first key of its rotation chain, so that
-- limits counted per key survive rotation (keygate.APIKey.Lineage). The
-- store sets it on insert; existing keys get it here by walking rotated_from
-- back as far as it goes (each step a primary key lookup). A chain whose
-- first keys were destroyed ends at the id its oldest remaining key names.
ALTER TABLE api_keys ADD COLUMN lineage_id TEXT NOT NULL DEFAULT '';

WITH RECURSIVE chain(key_id, ancestor, depth) AS (
	SELECT id, id, 0 FROM api_keys
	UNION ALL
	SELECT chain.key_id, k.rotated_from, chain.depth + 1 FROM chain JOIN api_keys k ON k.id = chain.ancestor
	WHERE k.rotated_from IS NOT NULL AND chain.depth < 100000 -- a guard: chains never loop
)
UPDATE api_keys SET lineage_id = root.ancestor
FROM (SELECT DISTINCT ON (key_id) key_id, ancestor FROM chain ORDER BY key_id, depth DESC) AS root
WHERE root.key_id = api_keys.id;
