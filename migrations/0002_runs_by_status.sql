-- 0002_runs_by_status: start-up recovery (runs left queued or running become aborted) looks
-- runs up by status; without this index it is a full scan of every run ever made, on every
-- start. (The paginated run list walks runs newest first by id and stops at the page's end.)
CREATE INDEX runs_by_status ON runs (status, id);
