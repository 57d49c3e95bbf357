/*
 * pool.c - see pool.h.
 */
#include "api/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "engine/common.h"

struct sp_pool {
    char *db_path;
    pthread_mutex_t mu;
    sp_store **idle; /* under mu */
    size_t nidle;
    size_t cap;
};

sp_pool *sp_pool_new(const char *db_path)
{
    sp_pool *p = sp_calloc(1, sizeof *p);
    p->db_path = sp_strdup(db_path);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void sp_pool_free(sp_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        sp_store_close(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p->db_path);
    free(p);
}

int sp_pool_take(sp_pool *p, sp_store **out, char *err, size_t errlen)
{
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->nidle)
        *out = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    if (*out)
        return 0;
    /* Opened without the mutex: a slow open (a busy database) delays only this request. */
    return sp_store_open(out, p->db_path, err, errlen);
}

void sp_pool_give(sp_pool *p, sp_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->mu);
    sp_grow((void **)&p->idle, &p->cap, p->nidle + 1, sizeof(*p->idle));
    p->idle[p->nidle++] = s;
    pthread_mutex_unlock(&p->mu);
}
