-- Accounts on the web: server-side sessions, OAuth sign-in in progress, and
-- the external identities (provider + subject) that sign a user in.
-- Per-challenge organizer roles live in challenge_organizers (20261128000002).

-- A browser session. The cookie holds a random secret; only its sha256 is
-- stored, so a leaked table does not let anyone sign in. user_id is NULL for a
-- session that has not signed in yet (it carries the CSRF token of the login form
-- and the OAuth flows started from it).
CREATE TABLE sessions (
    id_hash      text        PRIMARY KEY,
    user_id      uuid        REFERENCES users ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- An authorization-code flow between the redirect to the provider and its
-- callback: the state (hashed), the PKCE verifier, and the session that
-- started it (a callback from another browser is refused). Single use.
CREATE TABLE oauth_flows (
    state_hash    text        PRIMARY KEY,
    session_hash  text        NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    provider      text        NOT NULL,
    pkce_verifier text        NOT NULL,
    return_to     text        NOT NULL DEFAULT '/',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- Who a provider says a user is: (provider, subject) -> user.
CREATE TABLE oauth_identities (
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users ON DELETE CASCADE,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_login timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_user ON oauth_identities (user_id);
