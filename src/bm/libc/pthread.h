/* The lock part of pthreads for the shared device models (src/dev), built freestanding: a
 * mutex is a spinlock and a read-write lock a spinning counter, since the hypervisor never
 * sleeps holding one and a model's critical sections are short. There are no threads:
 * pthread_t exists only for the structures that name one (core/worker.c runs a device
 * model's work on the hart that asks for it). */
#ifndef CORRAL_BM_PTHREAD_H
#define CORRAL_BM_PTHREAD_H

typedef struct { volatile int locked; } pthread_mutex_t;
typedef struct { int unused; } pthread_mutexattr_t;
typedef unsigned long pthread_t;
/* readers: the count of holders; -1: a writer holds it */
typedef struct { volatile int state; } pthread_rwlock_t;
typedef struct { int unused; } pthread_rwlockattr_t;

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

static inline int pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a)
{
    (void)a;
    l->state = 0;
    return 0;
}

static inline int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
    (void)l;
    return 0;
}

static inline int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    for (;;) {
        int s = __atomic_load_n(&l->state, __ATOMIC_RELAXED);
        if (s >= 0 && __atomic_compare_exchange_n(&l->state, &s, s + 1, 1, __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED))
            return 0;
    }
}

static inline int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    for (;;) {
        int s = 0;
        if (__atomic_compare_exchange_n(&l->state, &s, -1, 1, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 0;
    }
}

static inline int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    if (__atomic_load_n(&l->state, __ATOMIC_RELAXED) < 0)
        __atomic_store_n(&l->state, 0, __ATOMIC_RELEASE);
    else
        __atomic_fetch_sub(&l->state, 1, __ATOMIC_RELEASE);
    return 0;
}

#endif
