-- The audit log of organizer and admin actions: who did what to which
-- challenge or submission, and when. Rows are only ever inserted.
CREATE TABLE audit_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_id     uuid        REFERENCES users ON DELETE SET NULL,
    actor_handle text        NOT NULL,
    action       text        NOT NULL,
    challenge_id uuid        REFERENCES challenges ON DELETE SET NULL,
    subject      text        NOT NULL DEFAULT '',
    detail       jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_challenge ON audit_log (challenge_id, at);
