/*
 * test_workers.c - fk_run_workers: every item runs once on some worker's
 * own context and is reported once on the calling thread; workers claim
 * items in order; done can stop the run early; a fatal task status and a
 * context that cannot be made are reported. With the models installed,
 * embeddings made over workers equal the serial ones bit for bit.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "facekit.h"
#include "test.h"

#define N 200

typedef struct state {
    pthread_t caller;
    atomic_int runs[N];
    fk_context *ctx_of[N];
    int reported[N];
    int order[N];
    int nreported;
    int done_off_caller;   /* done ran on another thread */
    int stop_after;        /* done returns 1 after this many (0: never) */
    int fail_item;         /* task fails fatally on this item (-1: none) */
    int sleep_us;
} state;

static fk_status task(fk_context *ctx, int item, void *user) {
    state *s = user;
    atomic_fetch_add(&s->runs[item], 1);
    s->ctx_of[item] = ctx;
    if (s->sleep_us) usleep((useconds_t)s->sleep_us);
    if (item == s->fail_item) {
        float one = 1, d;
        return fk_distance(&one, &one, 1, "no-such-metric", &d); /* sets a message */
    }
    return ctx && fk_context_get_model_home(ctx) ? FK_OK : FK_EINVAL;
}

static int done(void *user, int item, fk_status status) {
    state *s = user;
    if (!pthread_equal(pthread_self(), s->caller)) s->done_off_caller = 1;
    if (status == FK_OK || item == s->fail_item) {
        s->reported[item]++;
        s->order[s->nreported++] = item;
    }
    return s->stop_after && s->nreported >= s->stop_after;
}

static void init(state *s) {
    memset(s, 0, sizeof *s);
    s->caller = pthread_self();
    s->fail_item = -1;
}

static void test_all_items(void) {
    static state s;
    for (int threads = 1; threads <= 4; threads *= 2) {
        init(&s);
        fk_status st = fk_run_workers(NULL, threads, N, task, done, &s);
        CHECK(st == FK_OK, "threads %d: %s", threads, fk_last_error());
        CHECK(s.nreported == N, "threads %d: %d reported", threads, s.nreported);
        int once = 1, contexts = 0;
        fk_context *seen[8] = {0};
        for (int i = 0; i < N; i++) {
            once &= atomic_load(&s.runs[i]) == 1 && s.reported[i] == 1;
            int k = 0;
            while (k < contexts && seen[k] != s.ctx_of[i]) k++;
            if (k == contexts && contexts < 8) seen[contexts++] = s.ctx_of[i];
        }
        CHECK(once, "threads %d: every item ran and was reported exactly once", threads);
        CHECK(!s.done_off_caller, "done ran on the calling thread");
        CHECK(contexts >= 1 && contexts <= threads, "threads %d: %d contexts", threads, contexts);
        if (threads == 1) {
            int in_order = 1;
            for (int i = 0; i < N; i++) in_order &= s.order[i] == i;
            CHECK(in_order, "one worker: items in order");
        }
    }
    /* zero items: nothing runs */
    init(&s);
    CHECK(fk_run_workers(NULL, 2, 0, task, done, &s) == FK_OK && s.nreported == 0, "count 0");
    CHECK(fk_run_workers(NULL, 2, 5, NULL, done, &s) == FK_EINVAL, "NULL task");
    CHECK(fk_run_workers(NULL, 2, -1, task, done, &s) == FK_EINVAL, "negative count");
    /* done may be NULL */
    init(&s);
    CHECK(fk_run_workers(NULL, 2, 20, task, NULL, &s) == FK_OK && atomic_load(&s.runs[19]) == 1,
          "NULL done");
}

static void test_stop(void) {
    static state s;
    init(&s);
    s.stop_after = 5;
    s.sleep_us = 2000;
    fk_status st = fk_run_workers(NULL, 2, N, task, done, &s);
    CHECK(st == FK_OK, "a stop is not an error: %s", fk_last_error());
    int ran = 0, prefix = 1;
    for (int i = 0; i < N; i++) {
        int r = atomic_load(&s.runs[i]);
        ran += r;
        if (i > 0 && r && !atomic_load(&s.runs[i - 1])) prefix = 0;
        CHECK(r == s.reported[i], "item %d ran %d times, reported %d", i, r, s.reported[i]);
    }
    /* at most the two in flight after the fifth */
    CHECK(ran >= 5 && ran <= 8, "stopped early: %d items ran", ran);
    CHECK(prefix, "items are claimed in order: the ones run are a prefix");
}

static void test_fatal(void) {
    static state s;
    init(&s);
    s.fail_item = 10;
    s.sleep_us = 500;
    fk_status st = fk_run_workers(NULL, 2, N, task, done, &s);
    CHECK(st == FK_EINVAL && strstr(fk_last_error(), "no-such-metric"),
          "fatal task status returned with its message: %d %s", st, fk_last_error());
    CHECK(s.reported[10] == 1, "the failed item is reported");
    int ran = 0;
    for (int i = 0; i < N; i++) ran += atomic_load(&s.runs[i]);
    CHECK(ran < N, "the run stopped: %d of %d ran", ran, N);

    /* A context that cannot be made (a model home longer than PATH_MAX). */
    static char home[PATH_MAX + 16];
    memset(home, 'a', sizeof home - 1);
    home[0] = '/';
    fk_context_options co;
    fk_context_options_init(&co);
    co.model_home = home;
    init(&s);
    st = fk_run_workers(&co, 2, 10, task, done, &s);
    CHECK(st == FK_EINVAL && strstr(fk_last_error(), "model home"), "context failure: %d %s", st,
          fk_last_error());
    CHECK(s.nreported == 0 && atomic_load(&s.runs[0]) == 0, "no task ran without a context");
}

/* Real work: embeddings over 3 workers equal the serial ones. */
typedef struct embed_state {
    fk_image *img[5];
    fk_faces faces[5];
    fk_status st[5];
} embed_state;

static fk_status embed_task(fk_context *ctx, int item, void *user) {
    embed_state *e = user;
    e->st[item] = fk_represent(ctx, e->img[item], NULL, &e->faces[item]);
    return FK_OK;
}

static void test_real(void) {
    char home[PATH_MAX], path[PATH_MAX + 64];
    if (fk_models_default_home(home, sizeof home) != FK_OK) return;
    static embed_state e;
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/face-api/sample%d.jpg", home, i + 1);
        if (fk_image_load(path, 0, &e.img[i]) != FK_OK) {
            printf("note: %s not readable; skipped the embedding check\n", path);
            for (int k = 0; k < i; k++) fk_image_free(e.img[k]);
            return;
        }
    }
    CHECK(fk_run_workers(NULL, 3, 5, embed_task, NULL, &e) == FK_OK, "%s", fk_last_error());
    fk_context *ctx = NULL;
    fk_context_options co;
    fk_context_options_init(&co);
    co.threads = 1;
    CHECK(fk_context_new(&co, &ctx) == FK_OK, "context");
    for (int i = 0; ctx && i < 5; i++) {
        fk_faces serial = {0};
        fk_status st = fk_represent(ctx, e.img[i], NULL, &serial);
        CHECK(st == e.st[i], "sample%d: status %d serial, %d over workers", i + 1, st, e.st[i]);
        int same = serial.count == e.faces[i].count;
        for (int f = 0; same && f < serial.count; f++)
            same = serial.faces[f].embedding_dim == e.faces[i].faces[f].embedding_dim &&
                   !memcmp(serial.faces[f].embedding, e.faces[i].faces[f].embedding,
                           sizeof(float) * (size_t)serial.faces[f].embedding_dim);
        CHECK(same && (st != FK_OK || serial.count > 0), "sample%d: embeddings identical (%d faces)",
              i + 1, serial.count);
        fk_faces_free(&serial);
    }
    fk_context_free(ctx);
    for (int i = 0; i < 5; i++) {
        fk_faces_free(&e.faces[i]);
        fk_image_free(e.img[i]);
    }
}

int main(void) {
    test_all_items();
    test_stop();
    test_fatal();
    test_real();
    return test_summary();
}
