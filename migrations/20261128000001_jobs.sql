-- The job queue: rows claimed by workers with FOR UPDATE SKIP LOCKED under a
-- lease that heartbeats renew. A job whose lease expired (its worker died) is
-- claimed again; after max_attempts it fails with the reason.
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_error       text,
    result           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

-- What a worker scans to find work: queued jobs that are due, oldest first.
CREATE INDEX jobs_queued ON jobs (created_at) WHERE status = 'queued';
-- What the lease reaper scans.
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE status = 'running';

-- Wake idle workers as soon as a job is queued (they also poll, in case a
-- notification is missed while reconnecting).
CREATE FUNCTION jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('arena_jobs', NEW.kind);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION jobs_notify();

-- Items seeded by `arena up`, so seeding is idempotent.
CREATE TABLE seeds (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
