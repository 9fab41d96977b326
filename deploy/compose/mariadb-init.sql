-- Runs once, as root, when the mariadb volume is first created (database "shop" already exists).
-- Read-only monitoring login for dbabot (same grants as deploy/README.md recommends).
CREATE USER 'dbabot'@'%' IDENTIFIED BY 'dbabot-dev';
GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'dbabot'@'%';   -- all sessions; binlog status
GRANT REPLICA MONITOR ON *.* TO 'dbabot'@'%';              -- MariaDB >= 10.5.9: SHOW ALL SLAVES STATUS
GRANT SELECT ON performance_schema.* TO 'dbabot'@'%';      -- statement digests, waits, status
GRANT SELECT ON sys.* TO 'dbabot'@'%';                     -- sys.schema_unused_indexes etc.
GRANT SELECT ON mysql.user TO 'dbabot'@'%';                -- account review
GRANT SELECT ON shop.* TO 'dbabot'@'%';                    -- app schema: table/index statistics
