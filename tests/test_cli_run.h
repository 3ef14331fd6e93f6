/*
 * test_cli_run.h - run the facekit command from a test, as a user would:
 * fork + exec with stdout and stderr captured into files under a scratch
 * folder and read back into the caller's buffers (NUL-terminated, cut at
 * the buffer size; the rest is read and dropped so the files can be large).
 *
 * The child gets FACEKIT_THREADS=2 (every CLI test runs two worker
 * threads), FACEKIT_HOME=home when home is non-NULL, and runs in `cwd`
 * when cwd is non-NULL. The result is the exit code, or 128 + the signal
 * number when the command died of a signal (a crash is never an exit code
 * below 128), or 127 when it could not be started.
 */
#ifndef FK_TEST_CLI_RUN_H
#define FK_TEST_CLI_RUN_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct test_cli_io {
    const char *scratch; /* folder for the stdout/stderr files */
    const char *home;    /* FACEKIT_HOME for the child, or NULL */
    const char *cwd;     /* working folder of the child, or NULL */
    char *out;           /* captured stdout */
    size_t out_cap;
    char *err;           /* captured stderr */
    size_t err_cap;
} test_cli_io;

/* Read the file at path into buf (cap bytes, NUL-terminated). */
static inline void test_cli_slurp(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    close(fd);
}

static inline int test_cli_run(const char *cli, const char *const *argv, const test_cli_io *io) {
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout", io->scratch);
    snprintf(err_path, sizeof err_path, "%s/stderr", io->scratch);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        if (io->cwd && chdir(io->cwd) != 0) _exit(126);
        if (io->home) setenv("FACEKIT_HOME", io->home, 1);
        setenv("FACEKIT_THREADS", "2", 1);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return 127;
    test_cli_slurp(out_path, io->out, io->out_cap);
    test_cli_slurp(err_path, io->err, io->err_cap);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

#endif
