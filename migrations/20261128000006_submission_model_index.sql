-- The sweeper of unreferenced model objects asks, per stored model, whether a
-- submission names it.
CREATE INDEX IF NOT EXISTS submissions_model_sha256 ON submissions (model_sha256);
