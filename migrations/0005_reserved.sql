-- 0005_reserved: PLACEHOLDER, NOT TO BE RELEASED. Another branch takes migration 0005; this
-- empty file only keeps the versions of this branch without a gap (embed_migrations.cmake
-- refuses gaps) until that branch is merged. Delete this file when merging the real 0005
-- (two 0005 files stop the build with "expected version 6", so it cannot be missed).
SELECT 1;
