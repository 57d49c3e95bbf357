/*
 * agents.h - the agents connected to this server: their registry, the WebSocket protocol
 * "stampede-agent-v1" they speak (engine/wire.h, docs/agents-protocol.md), and the share of a
 * run each one takes.
 *
 * An agent connects out to the live stream's port (server/live: this layer hands it one more
 * lws protocol, served by the live service thread), passes the upgrade check (the auth hook:
 * an agent token, or a loopback peer under --no-auth), says hello, and from then on sends a
 * heartbeat each second. No word for SP_AGENTS_LOST_MS makes it lost: a run it was part of
 * goes on without it (its remote worker is ended) and names it in agents_lost.
 *
 * A run across locations (server/runs):
 *     sp_agents_reserve(a, locations, peak, &ar, msg, len);   picks idle agents: 422 otherwise
 *     sp_agents_run_begin(ar, run_id, engine, def, allow, start_ns);   sends each its assign
 *     ... seconds arrive on the service thread and are fed to the engine's remote workers,
 *         and merged into per-location totals ...
 *     sp_agents_run_second(ar, second)                        from the engine's on_second:
 *                                                             each location's second
 *     sp_agents_run_stop / _set_target                        forwarded to every agent
 *     sp_agents_run_summary(ar, def)                          after sp_engine_wait
 *     sp_agents_run_free(ar)                                  the agents are idle again
 *
 * Threads: every function may be called from any thread; the registry is under one mutex.
 * The lws callback runs on the live service thread only; other threads queue messages and
 * wake it with lws_cancel_service. A ticker thread sends heartbeats and finds lost agents.
 */
#ifndef SP_AGENTS_H
#define SP_AGENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/definition.h"
#include "engine/engine.h"

#define SP_AGENTS_LOST_MS 3000 /* no word from an agent for this long: lost */

typedef struct sp_agents sp_agents;
typedef struct sp_agents_run sp_agents_run;

/* Decides an agent's upgrade: token is the Bearer token ("" when none), peer_loopback 1 for a
 * loopback peer. Returns 0 to allow, with *token_id the token's id (0: none), else refuses.
 * Runs on the live service thread. */
typedef int (*sp_agents_auth_fn)(void *ud, const char *token, int peer_loopback, int64_t *token_id);

typedef struct sp_agents_opts {
    sp_agents_auth_fn auth; /* NULL: loopback peers only, no token */
    void *auth_ud;
} sp_agents_opts;

sp_agents *sp_agents_new(const sp_agents_opts *o);
/* Closes nothing (the live context owns the connections: free the live stream first), stops
 * the ticker, frees. NULL ignored. */
void sp_agents_free(sp_agents *a);
/* The lws protocol entry for sp_live_opts.extra_protocol (a const struct lws_protocols *). */
const void *sp_agents_protocol(sp_agents *a);

/* {"agents": [...]} as GET /api/v1/agents answers (new reference). An agent is listed, and
 * can be reserved, once it has reported its clock offset (one round trip after its welcome). */
json_t *sp_agents_list(sp_agents *a);
/* Drops every agent connected with token_id at once (its token was revoked). */
void sp_agents_drop_token(sp_agents *a, int64_t token_id);

/* Reserves idle agents for a run: locations is {"near": 60, "far": 40} (integer percents
 * adding up to 100). SP_EINVAL with msg naming the field or the location without an agent
 * ("locations.far: no connected idle agent in location 'far'"). peak: the run's most VUs
 * (closed model) or max_vus (open). */
int sp_agents_reserve(sp_agents *a, const json_t *locations, uint32_t peak, sp_agents_run **out,
                      char *msg, size_t msglen);
/* The number of agents reserved: the engine's remote_workers. */
unsigned sp_agents_run_count(const sp_agents_run *ar);
/* Sends every agent its assign: the definition doc (borrowed), the allowlist entries (NULL or
 * an array of strings, borrowed), the data files ({"path": "content"}, borrowed, may be
 * NULL), its share, and the start instant (CLOCK_REALTIME ns). The
 * engine (borrowed, must outlive the run's end) gets the seconds. */
void sp_agents_run_begin(sp_agents_run *ar, int64_t run_id, sp_engine *engine, const sp_def *def,
                         const json_t *allowlist, const json_t *files, int64_t start_ns);
void sp_agents_run_stop(sp_agents_run *ar, int graceful);
/* The run's new total target, split over the agents as the start was. */
void sp_agents_run_set_target(sp_agents_run *ar, double target, uint32_t ramp_ms);
/* The merged stats of a location of the run (borrowed, valid until sp_agents_run_free), after
 * the engine has ended; NULL when the run has no such location. */
const sp_stats *sp_agents_run_location_stats(sp_agents_run *ar, const char *location);
/* The run's second `second` by location, as the engine has just emitted it (call it from the
 * engine's on_second, in order): {"near": {"requests", "errors", "p50_ms", "p95_ms",
 * "p99_ms"}, ...} (new reference), every location of the run present. The percentiles come
 * from the location's merged histogram of the second. What the agents sent for this second or
 * an earlier one counts in it (a late second counts in the next one, as in the engine); once
 * every agent has ended, everything still pending does (the last second holds a graceful
 * stop's tail). */
json_t *sp_agents_run_second(sp_agents_run *ar, uint64_t second);
/* 1 when an agent was lost during the run. */
int sp_agents_run_lost(sp_agents_run *ar);
/* {"locations": {...}, "agents": [...], "agents_lost": [...]} (new reference), after the
 * engine has ended. */
json_t *sp_agents_run_summary(sp_agents_run *ar, const sp_def *def);
/* Gives the agents back (idle). NULL ignored. */
void sp_agents_run_free(sp_agents_run *ar);

#endif
