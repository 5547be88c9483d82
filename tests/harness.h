/* tests/harness.h — the test harness: one binary per test file, tests register
 * themselves, each prints its name and result, the last line is the summary.
 *
 *   SN_TEST(slice_split) { CHECK(x == 1); CHECK_EQ(a, b); if (!root) SKIP("needs root"); }
 *
 * Output, one line per test:  "ok   NAME" | "FAIL NAME: file:line: what" | "skip NAME: why"
 * and last "N passed, N failed, N skipped". tests/run.sh adds the lines of every binary
 * and script together. `./test_x PATTERN` runs only the tests whose name contains PATTERN.
 * The file that includes this header must be the only one in its binary (main lives here).
 */
#ifndef SN_TEST_HARNESS_H
#define SN_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void (*sn_test_fn)(void);

static struct {
    const char *name;
    sn_test_fn fn;
} sn_tests[512];
static int sn_ntests;
static int sn_cur_failed, sn_cur_skipped;
static char sn_cur_msg[512];

static inline void sn_test_register(const char *name, sn_test_fn fn)
{
    if (sn_ntests < (int)(sizeof(sn_tests) / sizeof(sn_tests[0]))) {
        sn_tests[sn_ntests].name = name;
        sn_tests[sn_ntests].fn = fn;
        sn_ntests++;
    }
}

#define SN_TEST(name)                                                                    \
    static void sn_test_##name(void);                                                    \
    __attribute__((constructor)) static void sn_test_reg_##name(void)                    \
    {                                                                                    \
        sn_test_register(#name, sn_test_##name);                                         \
    }                                                                                    \
    static void sn_test_##name(void)

static inline void sn_test_fail(const char *file, int line, const char *what)
{
    if (!sn_cur_failed)
        snprintf(sn_cur_msg, sizeof(sn_cur_msg), "%s:%d: %s", file, line, what);
    sn_cur_failed = 1;
}

/* On failure: record the first failing check and leave the test. */
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            sn_test_fail(__FILE__, __LINE__, "CHECK(" #cond ")");                        \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* Integer equality that prints both values. */
#define CHECK_EQ(a, b)                                                                   \
    do {                                                                                 \
        long long sn_a_ = (long long)(a), sn_b_ = (long long)(b);                        \
        if (sn_a_ != sn_b_) {                                                            \
            char sn_m_[256];                                                             \
            snprintf(sn_m_, sizeof(sn_m_), "%s == %s (%lld != %lld)", #a, #b, sn_a_,      \
                     sn_b_);                                                             \
            sn_test_fail(__FILE__, __LINE__, sn_m_);                                     \
            return;                                                                      \
        }                                                                                \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *sn_a_ = (a), *sn_b_ = (b);                                           \
        if (strcmp(sn_a_, sn_b_) != 0) {                                                 \
            char sn_m_[400];                                                             \
            snprintf(sn_m_, sizeof(sn_m_), "%s == %s (\"%.150s\" != \"%.150s\")", #a, #b,  \
                     sn_a_, sn_b_);                                                      \
            sn_test_fail(__FILE__, __LINE__, sn_m_);                                     \
            return;                                                                      \
        }                                                                                \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define SKIP(why)                                                                        \
    do {                                                                                 \
        sn_cur_skipped = 1;                                                              \
        snprintf(sn_cur_msg, sizeof(sn_cur_msg), "%s", (why));                           \
        return;                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    const char *pfx = getenv("SN_TEST_PREFIX"); /* tests/run.sh: "tsan_" for the TSan build */
    if (!pfx) pfx = "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < sn_ntests; i++) {
        if (argc > 1 && !strstr(sn_tests[i].name, argv[1]))
            continue;
        sn_cur_failed = sn_cur_skipped = 0;
        sn_cur_msg[0] = 0;
        sn_tests[i].fn();
        if (sn_cur_failed) {
            printf("FAIL %s%s: %s\n", pfx, sn_tests[i].name, sn_cur_msg);
            failed++;
        } else if (sn_cur_skipped) {
            printf("skip %s%s: %s\n", pfx, sn_tests[i].name, sn_cur_msg);
            skipped++;
        } else {
            printf("ok   %s%s\n", pfx, sn_tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#endif
