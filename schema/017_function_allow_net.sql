-- Outbound HTTP grants are per function version, like its secrets: allow_net
-- lists the destinations beyond public addresses (host, host:port, CIDR,
-- *.suffix) that the version's http.request may reach (deploy --allow-net).
-- A rollback makes an older version current, and with it its grants.
-- Versions from before this migration get none: they could not make
-- requests at all.
ALTER TABLE function_versions ADD COLUMN allow_net text[] NOT NULL DEFAULT '{}';
