/*
 * timerheap.c - see timerheap.h.
 */
#include "engine/timerheap.h"

#include <stdlib.h>

#include "engine/common.h"

void sp_timerheap_init(sp_timerheap *h)
{
    h->v = NULL;
    h->n = 0;
    h->cap = 0;
}

void sp_timerheap_release(sp_timerheap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i]->idx = SP_TIMER_IDLE;
    free(h->v);
    sp_timerheap_init(h);
}

void sp_timer_init(sp_timer *t)
{
    t->when_ns = 0;
    t->idx = SP_TIMER_IDLE;
}

static void place(sp_timerheap *h, size_t i, sp_timer *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(sp_timerheap *h, size_t i)
{
    sp_timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->when_ns <= t->when_ns)
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(sp_timerheap *h, size_t i)
{
    sp_timer *t = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->when_ns < h->v[c]->when_ns)
            c++;
        if (t->when_ns <= h->v[c]->when_ns)
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

void sp_timerheap_add(sp_timerheap *h, sp_timer *t, uint64_t when_ns)
{
    if (t->idx != SP_TIMER_IDLE)
        sp_timerheap_remove(h, t);
    t->when_ns = when_ns;
    sp_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(h->v[0]));
    place(h, h->n++, t);
    sift_up(h, t->idx);
}

void sp_timerheap_remove(sp_timerheap *h, sp_timer *t)
{
    size_t i = t->idx;
    if (i == SP_TIMER_IDLE || i >= h->n || h->v[i] != t)
        return;
    t->idx = SP_TIMER_IDLE;
    h->n--;
    if (i == h->n)
        return;
    place(h, i, h->v[h->n]);
    /* The moved timer may belong above or below its new place. */
    if (i > 0 && h->v[(i - 1) / 2]->when_ns > h->v[i]->when_ns)
        sift_up(h, i);
    else
        sift_down(h, i);
}

sp_timer *sp_timerheap_peek(const sp_timerheap *h)
{
    return h->n ? h->v[0] : NULL;
}

sp_timer *sp_timerheap_pop_due(sp_timerheap *h, uint64_t now_ns)
{
    if (!h->n || h->v[0]->when_ns > now_ns)
        return NULL;
    sp_timer *t = h->v[0];
    sp_timerheap_remove(h, t);
    return t;
}
