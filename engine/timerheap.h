/*
 * timerheap.h - a binary min-heap of timers keyed by monotonic time, for one worker thread.
 *
 * The timer (sp_timer) is embedded in its owner (a VU), so arming and cancelling never allocate
 * once the heap's array has grown to the number of owners. Each timer knows its position in the
 * heap, so cancelling is O(log n) without a search. Earliest first; ties in no particular order.
 *
 * Calling sequence: sp_timerheap_init(); sp_timerheap_add()/sp_timerheap_remove() as owners arm
 * and cancel; sp_timerheap_peek()/sp_timerheap_pop() in the event loop; sp_timerheap_release().
 *
 * Threads: a heap and its timers belong to one thread.
 */
#ifndef SP_TIMERHEAP_H
#define SP_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

#define SP_TIMER_IDLE ((size_t)-1)

typedef struct sp_timer {
    uint64_t when_ns; /* sp_now_ns() time at which it fires */
    size_t idx;       /* position in the heap, SP_TIMER_IDLE when not armed */
} sp_timer;

typedef struct sp_timerheap {
    sp_timer **v;
    size_t n;
    size_t cap;
} sp_timerheap;

void sp_timerheap_init(sp_timerheap *h);
/* Frees the array; timers still armed are simply forgotten (their owners free them). */
void sp_timerheap_release(sp_timerheap *h);
/* Marks a timer as not armed; call once before its first use. */
void sp_timer_init(sp_timer *t);
/* Arms t to fire at when_ns; re-arms it when already armed. */
void sp_timerheap_add(sp_timerheap *h, sp_timer *t, uint64_t when_ns);
/* Cancels t; nothing happens when it is not armed. */
void sp_timerheap_remove(sp_timerheap *h, sp_timer *t);
/* The earliest timer, or NULL when none is armed. */
sp_timer *sp_timerheap_peek(const sp_timerheap *h);
/* Removes and returns the earliest timer if it is due at now_ns, else NULL. */
sp_timer *sp_timerheap_pop_due(sp_timerheap *h, uint64_t now_ns);

#endif
