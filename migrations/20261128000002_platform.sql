-- Accounts, datasets, challenges and submissions.

CREATE TABLE users (
    id           uuid        PRIMARY KEY,
    handle       text        NOT NULL UNIQUE,
    display_name text        NOT NULL DEFAULT '',
    email        text,
    orcid        text,
    is_admin     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- API tokens are stored as sha256 hashes; the token itself is shown once.
CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text        NOT NULL,
    token_hash   text        NOT NULL UNIQUE,
    prefix       text        NOT NULL,
    scopes       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- A dataset's metadata (datasets::DatasetMeta) and its immutable versions
-- (datasets::VersionMeta: splits, files with sha256, schema, statistics).
-- File bytes live in the object store under datasets/<sha256>.
CREATE TABLE datasets (
    id         uuid        PRIMARY KEY,
    slug       text        NOT NULL UNIQUE,
    meta       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dataset_versions (
    id             uuid        PRIMARY KEY,
    dataset_id     uuid        NOT NULL REFERENCES datasets ON DELETE CASCADE,
    version        text        NOT NULL,
    doc            jsonb       NOT NULL,
    content_sha256 text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, version)
);

-- A challenge: its definition (challenges::Challenge) and the dataset version it scores on.
CREATE TABLE challenges (
    id                 uuid        PRIMARY KEY,
    slug               text        NOT NULL UNIQUE,
    title              text        NOT NULL,
    definition         jsonb       NOT NULL,
    dataset_version_id uuid        NOT NULL REFERENCES dataset_versions,
    created_by         uuid        REFERENCES users,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE challenge_organizers (
    challenge_id uuid NOT NULL REFERENCES challenges ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    PRIMARY KEY (challenge_id, user_id)
);

-- Hidden phases become visible to everyone when an organizer publishes them.
CREATE TABLE phase_publications (
    challenge_id uuid        NOT NULL REFERENCES challenges ON DELETE CASCADE,
    phase        text        NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by uuid        REFERENCES users,
    PRIMARY KEY (challenge_id, phase)
);

CREATE TABLE submissions (
    id                  uuid        PRIMARY KEY,
    challenge_id        uuid        NOT NULL REFERENCES challenges ON DELETE CASCADE,
    phase               text        NOT NULL,
    user_id             uuid        NOT NULL REFERENCES users,
    label               text        NOT NULL DEFAULT '',
    is_baseline         boolean     NOT NULL DEFAULT false,
    model_sha256        text        NOT NULL,
    model_size          bigint      NOT NULL,
    config_text         text,
    status              text        NOT NULL DEFAULT 'submitted'
                        CHECK (status IN ('submitted', 'queued', 'compiling', 'simulating',
                                          'synthesizing', 'scoring', 'finished', 'failed', 'cancelled')),
    message             text,
    log                 text        NOT NULL DEFAULT '',
    job_id              uuid        REFERENCES jobs ON DELETE SET NULL,
    results             jsonb,
    disqualified        boolean     NOT NULL DEFAULT false,
    disqualified_reason text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_board ON submissions (challenge_id, phase, status);
CREATE INDEX submissions_user ON submissions (user_id, challenge_id, created_at);

-- Every status change of a submission, timestamped.
CREATE TABLE submission_events (
    id            bigserial   PRIMARY KEY,
    submission_id uuid        NOT NULL REFERENCES submissions ON DELETE CASCADE,
    status        text        NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail        text
);
CREATE INDEX submission_events_submission ON submission_events (submission_id, id);
