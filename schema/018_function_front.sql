-- The HTTP front and config of a function version, chosen at deploy and
-- kept with the version, so a rollback restores them:
--   {"cors_origins": ["https://app.example.com"],
--    "rate": {"count": 20, "per": "1s", "burst": 40, "per_ip": true},
--    "env": {"KEY": "value"}}
-- Every key is optional; '{}' (versions from before this migration) means
-- no CORS, no rate limit and an empty env.
ALTER TABLE function_versions ADD COLUMN front jsonb NOT NULL DEFAULT '{}';
