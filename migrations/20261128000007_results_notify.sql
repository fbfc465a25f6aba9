-- Every change that can alter a challenge's leaderboard notifies channel
-- `arena_results` with the challenge's id, in the changing transaction (so
-- listeners hear of it only once it is committed). Servers listening there
-- serve cached leaderboards without asking the database per request.
CREATE OR REPLACE FUNCTION arena_notify_results() RETURNS trigger AS $$
DECLARE
    challenge uuid;
BEGIN
    IF TG_TABLE_NAME = 'challenges' THEN
        IF TG_OP = 'DELETE' THEN
            challenge := OLD.id;
        ELSE
            challenge := NEW.id;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        challenge := OLD.challenge_id;
    ELSE
        challenge := NEW.challenge_id;
    END IF;
    PERFORM pg_notify('arena_results', challenge::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER submissions_notify_results
    AFTER INSERT OR UPDATE OR DELETE ON submissions
    FOR EACH ROW EXECUTE FUNCTION arena_notify_results();
CREATE TRIGGER phase_publications_notify_results
    AFTER INSERT OR UPDATE OR DELETE ON phase_publications
    FOR EACH ROW EXECUTE FUNCTION arena_notify_results();
CREATE TRIGGER challenges_notify_results
    AFTER INSERT OR UPDATE OR DELETE ON challenges
    FOR EACH ROW EXECUTE FUNCTION arena_notify_results();
