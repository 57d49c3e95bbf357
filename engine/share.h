/*
 * share.h - how a run across locations is split over agents (pure functions).
 *
 * A run's "locations" give each location an integer percent (summing to 100). Each location's
 * percent is split evenly over its connected agents, which gives every agent k (in the order
 * locations, then agents) a weight w_k and a cumulative range [C_{k-1}, C_k) of [0, 1), the last
 * C exactly 1. From it, with no further word from the server:
 *
 *   - VUs (closed model): of a total T, agent k runs round(T*C_k) - round(T*C_{k-1}). The
 *     shares of all agents add up to T exactly (the sum telescopes), each is within one of
 *     T*w_k, and every agent can compute its own for any T (a stage, a load change).
 *   - VU numbers: agent k numbers its VUs from vu_offset_k = round(P*C_{k-1}) + k, P the run's
 *     peak; no two agents share a number whatever T is (a share never exceeds ceil(P*w_k)).
 *   - Rates (open model): agent k takes rate * w_k; max_vus is split like VUs (at least 1).
 *   - unique CSV rows: agent k takes the rows r with r % nagents == k, so no row is handed out
 *     twice over the run.
 *
 * Threads: none kept; any thread.
 */
#ifndef SP_SHARE_H
#define SP_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/definition.h"

typedef struct sp_share_loc {
    const char *name; /* borrowed */
    uint32_t percent; /* 1..100; all of a run's add up to 100 */
    size_t nagents;   /* connected idle agents of the location */
} sp_share_loc;

typedef struct sp_share {
    size_t location;    /* index into the locations */
    double from, to;    /* [C_{k-1}, C_k) */
    uint32_t vu_offset; /* first VU number */
    uint32_t csv_index, csv_count;
} sp_share;

/* Fills out[k] for every agent (out has room for the sum of nagents). SP_EINVAL with a reason
 * naming the location when a percent is 0 or over 100, the percents do not add up to 100, a
 * location has no agent ("location 'far': no connected idle agent") or there are more than
 * SP_WIRE_MAX_AGENTS agents. peak: the run's most VUs (closed) or max_vus (open). */
int sp_share_plan(const sp_share_loc *locs, size_t nlocs, uint32_t peak, sp_share *out, char *err,
                  size_t errlen);

/* Agent [from, to)'s part of a total of VUs: round(total*to) - round(total*from). */
uint32_t sp_share_vus(double total, double from, double to);

/* Scales a parsed load profile to agent [from, to)'s part: closed-model stage targets by
 * sp_share_vus, open-model rates by (to - from) and max_vus by sp_share_vus (at least 1). */
void sp_share_scale_load(sp_load *l, double from, double to);

#endif
