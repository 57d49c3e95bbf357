-- 0006_reserved: a placeholder. Version 6 belongs to a migration of another branch; this file
-- keeps the versions without gaps on this branch until that one is merged, and is deleted then
-- (the build refuses two migrations of one version).
SELECT 1;
