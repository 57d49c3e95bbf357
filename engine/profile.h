/*
 * profile.h - the load profile: what a definition's load asks for at each moment of a run,
 * and which user class each VU number belongs to. Private to the engine (engine.c, run.c,
 * worker.c); docs/engine.md describes both models.
 *
 * The profile is a curve over the run's time, linear inside each stage from the previous stage's
 * target (0 before the first) to the stage's own; a stage of duration 0 jumps, and after the last
 * stage its target holds. In the closed model the curve is a number of VUs; in the open model it
 * is a rate (iterations per second), and arrival n (0-based over the run) is due at the first t
 * at which the arrivals planned so far, the integral of the rate, reach n.
 *
 * A target override (sp_ovr, from sp_engine_set_target) replaces the curve from its t0_ms on: a
 * ramp from v0 to v1 over ramp_ms, then v1 for the rest of the run.
 *
 * Everything here is a pure function of its arguments (nothing is kept between calls, nothing
 * locked), so any thread may call it; the run's own copy of the override is guarded by the
 * run's mutex (run.h), and callers pass a snapshot of it.
 */
#ifndef SP_PROFILE_H
#define SP_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/definition.h"

/* A target override: from v0 at t0_ms to v1 over ramp_ms (0: at once), then v1. Inactive (all
 * zero) until sp_engine_set_target is first called. */
typedef struct sp_ovr {
    int active;
    uint64_t ver; /* bumped by each override, so workers notice a new one */
    uint64_t t0_ms;
    double v0, v1;
    uint32_t ramp_ms;
} sp_ovr;

/* The target at t_ms after the start: VUs (closed model) or iterations/s (open model). */
double sp_profile_target(const sp_load *l, const sp_ovr *o, uint64_t t_ms);
/* Open model: the number of arrivals planned from the start to t_ms, i.e. the integral of the
 * rate (iterations/s) over [0, t_ms]. */
double sp_profile_arrivals_by(const sp_load *l, const sp_ovr *o, double t_ms);
/* Open model: when arrival n (0-based over the run) is due, in ms after the start: the first t
 * at which sp_profile_arrivals_by reaches n. 0 and *t_ms, or -1 when the rate never gets there
 * (it stays at 0). */
int sp_profile_arrival_at(const sp_load *l, const sp_ovr *o, double n, double *t_ms);

/* The user class of each VU number: VU k is of class table[k % *n]. One period of a smooth
 * weighted round-robin over the class weights (reduced by their gcd, scaled to at most 4096
 * entries), so any VUs 0..T-1 are split by weight as closely as integers
 * allow. Returns a new table (free() it) of *n entries. */
uint8_t *sp_profile_classes(const sp_def *d, size_t *n);

#endif
