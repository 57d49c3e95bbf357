-- 0002_runs_by_status: start-up recovery (runs left queued or running become aborted) looks
-- runs up by status, as does the run list filtered by status; without this index each is a
-- full scan of every run ever made.
CREATE INDEX runs_by_status ON runs (status, id);
