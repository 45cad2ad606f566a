/* test_budget.h - a memory budget (tensor.h) for tests: grants up to `cap`
 * bytes in all, with the Lua host's wording when it refuses, and records
 * what it was asked. */
#ifndef NM_TEST_BUDGET_H
#define NM_TEST_BUDGET_H

#include "error.h"
#include "tensor.h"

typedef struct {
    int64_t cap, granted, asked;
    int calls;
} cap_budget;

static inline int cap_ask(void *ud, size_t bytes)
{
    cap_budget *c = ud;
    c->asked += (int64_t)bytes;
    c->calls++;
    if (c->granted + (int64_t)bytes > c->cap)
        return nm_seterr("not enough memory: %zu more bytes would pass the memory limit of %lld "
                         "bytes", bytes, (long long)c->cap);
    c->granted += (int64_t)bytes;
    return NM_OK;
}

#endif
