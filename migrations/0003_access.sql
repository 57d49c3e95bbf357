-- 0003_access: users, sessions, API tokens and the audit log (access control).
-- Its tables come with the access-control change; this file keeps the version numbers
-- without gaps until then.
SELECT 1;
