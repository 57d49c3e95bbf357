-- 0006_reserved: PLACEHOLDER, NOT TO BE RELEASED. Another branch takes migration 0006; this
-- empty file only keeps the versions of this branch without a gap (embed_migrations.cmake
-- refuses gaps) until that branch is merged. Delete this file when merging the real 0006
-- (two 0006 files stop the build with "expected version 7", so it cannot be missed).
SELECT 1;
