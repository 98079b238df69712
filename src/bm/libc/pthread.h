/* The mutex part of pthreads for the shared device models (src/dev), built freestanding: a
 * mutex is a spinlock, since the hypervisor never sleeps holding one and a model's critical
 * sections are short. Nothing else of pthreads is here. */
#ifndef CORRAL_BM_PTHREAD_H
#define CORRAL_BM_PTHREAD_H

typedef struct { volatile int locked; } pthread_mutex_t;
typedef struct { int unused; } pthread_mutexattr_t;

static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
    (void)a;
    m->locked = 0;
    return 0;
}

static inline int pthread_mutex_destroy(pthread_mutex_t *m)
{
    (void)m;
    return 0;
}

static inline int pthread_mutex_lock(pthread_mutex_t *m)
{
    while (__atomic_exchange_n(&m->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&m->locked, __ATOMIC_RELAXED))
            ;
    return 0;
}

static inline int pthread_mutex_unlock(pthread_mutex_t *m)
{
    __atomic_store_n(&m->locked, 0, __ATOMIC_RELEASE);
    return 0;
}

#endif
