-- The read-only role of the web replicas (DESIGN.md invariant 8): it reads Chainfeed's tables and nothing else.
--
-- Run on the primary (roles and grants replicate to the read replicas), after `chainfeed migrate`, as the
-- role that ran the migration (so the default privileges cover tables later migrations create):
--
--   psql "$CHAINFEED_DATABASE_URL" -v ON_ERROR_STOP=1 -v schema=public -f deploy/readonly-role.sql
--
-- `schema` defaults to `public`. Then give the role a password (`\password chainfeed_reader` in psql, or
-- `ALTER ROLE chainfeed_reader PASSWORD '…'`) or another authentication method in pg_hba.conf, and point
-- `chainfeed serve --read-database-url postgresql://chainfeed_reader@replica/chainfeed` at a replica.
-- Safe to run again.
\if :{?schema}
\else
  \set schema public
\endif

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chainfeed_reader') THEN
    CREATE ROLE chainfeed_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;

-- Belt and braces: every transaction of the role is read-only unless it explicitly asks otherwise,
-- and then the missing privileges still refuse the write.
ALTER ROLE chainfeed_reader SET default_transaction_read_only = on;

SELECT format('GRANT CONNECT ON DATABASE %I TO chainfeed_reader', current_database()) \gexec
GRANT USAGE ON SCHEMA :"schema" TO chainfeed_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO chainfeed_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema" GRANT SELECT ON TABLES TO chainfeed_reader;
