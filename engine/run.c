/*
 * run.c - see run.h: the accessors of the state a run's threads share.
 */
#include "engine/run.h"

void sp_run_override(sp_run *r, sp_ovr *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->ov;
    pthread_mutex_unlock(&r->mu);
}

double sp_run_target(sp_run *r, uint64_t t_ms)
{
    pthread_mutex_lock(&r->mu);
    double v = sp_profile_target(&r->def->load, &r->ov, t_ms);
    pthread_mutex_unlock(&r->mu);
    return v;
}

int sp_run_ready_wait(sp_run *r)
{
    pthread_mutex_lock(&r->mu);
    r->nready++;
    pthread_cond_broadcast(&r->gate);
    while (!r->go)
        pthread_cond_wait(&r->gate, &r->mu);
    int go = r->go;
    pthread_mutex_unlock(&r->mu);
    return go;
}

int sp_run_class_of(const sp_run *r, uint64_t k)
{
    return r->cls_table[k % r->ncls_table];
}
