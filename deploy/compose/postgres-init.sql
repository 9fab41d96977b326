-- Runs once, as the superuser, in database "app" when the postgres volume is first created.
-- Read-only monitoring login for dbabot (same grants as deploy/README.md recommends).
CREATE ROLE dbabot LOGIN PASSWORD 'dbabot-dev';
GRANT pg_monitor TO dbabot;          -- pg_stat_activity of all users, pg_stat_statements, settings
ALTER ROLE dbabot SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE app TO dbabot;

-- Statement statistics (the server is started with shared_preload_libraries=pg_stat_statements).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
