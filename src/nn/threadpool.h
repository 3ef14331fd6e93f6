/*
 * nn/threadpool.h - the thread pool moved to core (core/threadpool.h: the
 * gallery shares it, and the gallery may not include nn). This header only
 * forwards, so the files that still include it by its old name build; new
 * code includes core/threadpool.h.
 */
#ifndef FK_NN_THREADPOOL_H
#define FK_NN_THREADPOOL_H
#include "core/threadpool.h"
#endif
