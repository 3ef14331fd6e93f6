/*
 * test.h - the tiny test harness every test program includes.
 *
 * CHECK(cond, fmt, ...) records a pass or a failure (with file:line and the
 * message); a test program ends with `return test_summary();`, which prints
 * "N passed, N failed" and returns 1 if anything failed. test_skip(reason)
 * exits with 77, which ctest reports as skipped (never as passed).
 */
#ifndef FK_TEST_H
#define FK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            test_passed++;                                                 \
        } else {                                                           \
            test_failed++;                                                 \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__,     \
                    #cond);                                                \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

static inline void test_skip(const char *reason) {
    printf("SKIP: %s\n", reason);
    exit(77);
}

/* Environment variable or a fallback. */
static inline const char *test_env(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

#endif
