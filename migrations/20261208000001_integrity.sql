-- Integrity of the benchmark (issue 15).

-- Organizing is a role an admin grants (admins hold every role). Users who
-- organize a challenge already keep the right.
ALTER TABLE users ADD COLUMN can_organize boolean NOT NULL DEFAULT false;
UPDATE users SET can_organize = true
 WHERE id IN (SELECT user_id FROM challenge_organizers);

-- Dataset stewardship: only a dataset's maintainers (its uploader, whom they
-- add) and admins read the labels of its hidden splits and add versions.
-- Existing datasets have no recorded uploader: admins keep them until they
-- name maintainers.
CREATE TABLE dataset_maintainers (
    dataset_id uuid        NOT NULL REFERENCES datasets ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    added_by   uuid        REFERENCES users ON DELETE SET NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, user_id)
);
CREATE INDEX dataset_maintainers_user ON dataset_maintainers (user_id);

-- The part of an evaluation's log computed from hidden labels (the score,
-- problems of the label column): organizers only.
ALTER TABLE submissions ADD COLUMN organizer_log text NOT NULL DEFAULT '';

-- The audit log also records actions on datasets and accounts.
ALTER TABLE audit_log ADD COLUMN dataset_id uuid REFERENCES datasets ON DELETE SET NULL;
CREATE INDEX audit_log_dataset ON audit_log (dataset_id, at);
