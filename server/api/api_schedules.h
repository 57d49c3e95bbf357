/*
 * api_schedules.h - the schedule routes of the REST API (docs/api-schedules.md):
 *     GET  /api/v1/tests/:id/schedules        a test's schedules (read)
 *     POST /api/v1/tests/:id/schedules        a new one, owned by the caller (run)
 *     GET  /api/v1/schedules/:id              one (read)
 *     PUT  /api/v1/schedules/:id              change the fields given (run; owner or admin)
 *     POST /api/v1/schedules/:id/pause|resume (run; owner or admin)
 *     DELETE /api/v1/schedules/:id            (run; owner or admin)
 *     POST /api/v1/schedules/preview          the next fire times of {"cron", "timezone"} (read)
 * Every change is in the audit log (schedule.create, .update, .pause, .resume, .delete).
 * Registered by api.c; the handlers use the scheduler (server/sched/sched.h), which keeps its
 * own connection, so no route takes one from the pool.
 */
#ifndef SP_API_SCHEDULES_H
#define SP_API_SCHEDULES_H

#include <stddef.h>

#include "api/kit.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_schedules_routes[];
extern const size_t sp_api_schedules_nroutes;

#endif
