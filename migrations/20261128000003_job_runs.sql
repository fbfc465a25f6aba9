-- One row per ended attempt of a job: who ran it, which attempt, how it ended.
-- Written by the same statement that ends the attempt (db::jobs::finish, fail,
-- release, fail_exhausted), so a row exists exactly when the end was recorded.
-- It is the audit trail of the queue: a job finished twice would show two
-- 'finished' rows.
CREATE TABLE job_runs (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    worker  text,
    attempt integer     NOT NULL,
    outcome text        NOT NULL
            CHECK (outcome IN ('finished', 'failed', 'retried', 'released', 'lost')),
    at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX job_runs_job ON job_runs (job_id, at);
