/*
 * test_timerheap.c - the worker's timer heap: earliest first, cancel and re-arm anywhere.
 */
#include <stdlib.h>

#include "check.h"
#include "engine/common.h"
#include "engine/timerheap.h"

#define N 2000

static void test_order_and_cancel(void)
{
    static sp_timer t[N];
    static int cancelled[N];
    sp_timerheap h;
    sp_timerheap_init(&h);
    sp_rng rng;
    sp_rng_seed(&rng, 42);
    for (int i = 0; i < N; i++) {
        sp_timer_init(&t[i]);
        sp_timerheap_add(&h, &t[i], (uint64_t)sp_rng_range(&rng, 1, 1000000));
    }
    /* Cancel a third, re-arm a third (some earlier, some later). */
    for (int i = 0; i < N; i += 3) {
        sp_timerheap_remove(&h, &t[i]);
        cancelled[i] = 1;
        CHECK(t[i].idx == SP_TIMER_IDLE);
    }
    sp_timerheap_remove(&h, &t[0]); /* not armed: nothing happens */
    for (int i = 1; i < N; i += 3)
        sp_timerheap_add(&h, &t[i], (uint64_t)sp_rng_range(&rng, 1, 1000000));
    CHECK(sp_timerheap_pop_due(&h, 0) == NULL);
    uint64_t last = 0;
    size_t popped = 0;
    sp_timer *x;
    while ((x = sp_timerheap_pop_due(&h, UINT64_MAX))) {
        CHECK(x->when_ns >= last);
        CHECK(!cancelled[x - t]);
        CHECK(x->idx == SP_TIMER_IDLE);
        last = x->when_ns;
        popped++;
    }
    CHECK_UINT_EQ(popped, N - (N + 2) / 3);
    CHECK(sp_timerheap_peek(&h) == NULL);
    sp_timerheap_release(&h);
}

static void test_due_only(void)
{
    sp_timer a, b;
    sp_timerheap h;
    sp_timerheap_init(&h);
    sp_timer_init(&a);
    sp_timer_init(&b);
    sp_timerheap_add(&h, &a, 100);
    sp_timerheap_add(&h, &b, 50);
    CHECK(sp_timerheap_peek(&h) == &b);
    CHECK(sp_timerheap_pop_due(&h, 49) == NULL);
    CHECK(sp_timerheap_pop_due(&h, 50) == &b);
    CHECK(sp_timerheap_pop_due(&h, 99) == NULL);
    sp_timerheap_add(&h, &a, 10); /* re-arm earlier */
    CHECK(sp_timerheap_pop_due(&h, 10) == &a);
    CHECK(sp_timerheap_peek(&h) == NULL);
    sp_timerheap_release(&h);
}

int main(void)
{
    RUN(test_order_and_cancel);
    RUN(test_due_only);
    return check_summary();
}
