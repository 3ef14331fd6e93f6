/*
 * npm_pack.c - running `npm pack` for `facekit models fetch`.
 *
 * npm runs through fork/execvp with its output captured in temp files, so
 * the library prints nothing and can quote npm's own words when it fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "models/model_store.h"

/* The file name npm pack gives a spec's tarball: "@scope/name@1.2.3" becomes
 * "scope-name-1.2.3.tgz". Assumes a pinned version after the last '@'. */
fk_status fk__tarball_name(const char *spec, char *buf, size_t cap) {
    const char *s = spec[0] == '@' ? spec + 1 : spec;
    const char *at = strrchr(s, '@');
    size_t i, n;
    if (!at || at == s || !at[1])
        return fk__fail(FK_EINVAL, "npm spec '%s' has no pinned version", spec);
    n = (size_t)snprintf(buf, cap, "%.*s-%s.tgz", (int)(at - s), s, at + 1);
    if (n >= cap)
        return fk__fail(FK_EINVAL, "npm spec too long: %s", spec);
    for (i = 0; i < n; i++)
        if (buf[i] == '/')
            buf[i] = '-';
    return FK_OK;
}

/* ---- running npm ------------------------------------------------------- */

/* Read the tail of an open temp file (at most cap-1 bytes, from the end)
 * into buf. */
static void read_tail(FILE *f, char *buf, size_t cap) {
    long size;
    size_t got;
    buf[0] = '\0';
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0)
        return;
    if ((size_t)size > cap - 1)
        fseek(f, size - (long)(cap - 1), SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    got = fread(buf, 1, cap - 1, f);
    buf[got] = '\0';
}

/* Condense npm's output into one line: its last error lines ("npm error",
 * "npm ERR!") if it printed any, else its last non-empty lines, joined with
 * " | " and capped so the whole message fits the error buffer. */
static void summarize_output(char *text, char *out, size_t cap) {
    enum { KEEP = 4 };
    char *lines[256];
    const char *pick[KEEP];
    int n = 0, npick = 0, i, errors = 0;
    char *save = NULL, *line;
    size_t len = 0;

    for (line = strtok_r(text, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line)
            continue;
        if (n == 256) {
            memmove(lines, lines + 1, sizeof lines[0] * 255);
            n--;
        }
        lines[n++] = line;
    }
    for (i = 0; i < n; i++)
        if (!strncmp(lines[i], "npm error", 9) ||
            !strncmp(lines[i], "npm ERR!", 8))
            errors++;
    for (i = n - 1; i >= 0 && npick < KEEP; i--)
        if (!errors || !strncmp(lines[i], "npm error", 9) ||
            !strncmp(lines[i], "npm ERR!", 8))
            pick[npick++] = lines[i];
    out[0] = '\0';
    for (i = npick - 1; i >= 0 && len + 1 < cap; i--) {
        int w = snprintf(out + len, cap - len, "%s%s",
                         i == npick - 1 ? "" : " | ", pick[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (!out[0])
        snprintf(out, cap, "(npm printed nothing)");
}

/* Open an anonymous temp file that a child process must not inherit. */
static FILE *private_tmpfile(void) {
    FILE *f = tmpfile();
    if (f)
        fcntl(fileno(f), F_SETFD, FD_CLOEXEC);
    return f;
}

/* Run `<npm> pack <spec> --pack-destination <cache>` and wait for it. npm is
 * $FACEKIT_NPM when set (tests use it to simulate a missing or broken npm),
 * else found on PATH. Its stdout and stderr go to temp files; stdin is
 * /dev/null so it can never stop to ask a question. If exec fails, the
 * child reports errno through a close-on-exec pipe: no bytes on the pipe
 * means exec succeeded. On success, printed_name receives the last line of
 * npm's stdout (the tarball name it reports). */
fk_status fk__run_npm_pack(const char *spec, const char *cache,
                              char *printed_name, size_t name_cap) {
    const char *env = getenv("FACEKIT_NPM");
    const char *npm = env && env[0] ? env : "npm";
    char *argv[] = {(char *)npm, "pack", (char *)spec, "--pack-destination",
                    (char *)cache, NULL};
    char tail[8192], summary[600];
    FILE *out = NULL, *err = NULL;
    int pfd[2] = {-1, -1}, devnull = -1, child_errno = 0, status = 0;
    int out_fd, err_fd;
    ssize_t r;
    pid_t pid;
    fk_status st = FK_OK;

    printed_name[0] = '\0';
    out = private_tmpfile();
    err = private_tmpfile();
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!out || !err || devnull < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        st = fk__fail(FK_EIO, "cannot set up to run npm: %s", strerror(errno));
        goto done;
    }
    out_fd = fileno(out);
    err_fd = fileno(err);
    pid = fork();
    if (pid < 0) {
        st = fk__fail(FK_EEXTERNAL, "cannot run npm: fork failed: %s",
                     strerror(errno));
        goto done;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        int e;
        if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execvp(npm, argv);
        e = errno;
        if (write(pfd[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    do
        r = read(pfd[0], &child_errno, sizeof child_errno);
    while (r < 0 && errno == EINTR);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            st = fk__fail(FK_EEXTERNAL, "npm: waitpid failed: %s",
                         strerror(errno));
            goto done;
        }
    }
    if (r == (ssize_t)sizeof child_errno) {
        if (child_errno == ENOENT)
            st = fk__fail(FK_EEXTERNAL,
                         "npm not found%s%s%s: install Node.js and npm "
                         "(apt-get install npm)",
                         env && env[0] ? " (FACEKIT_NPM=" : "",
                         env && env[0] ? env : "", env && env[0] ? ")" : "");
        else
            st = fk__fail(FK_EEXTERNAL, "cannot run npm (%s): %s", npm,
                         strerror(child_errno));
        goto done;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        read_tail(err, tail, sizeof tail);
        if (!tail[0])
            read_tail(out, tail, sizeof tail);
        summarize_output(tail, summary, sizeof summary);
        if (WIFEXITED(status))
            st = fk__fail(FK_EEXTERNAL,
                         "`npm pack %s` failed (exit status %d): %s", spec,
                         WEXITSTATUS(status), summary);
        else
            st = fk__fail(FK_EEXTERNAL,
                         "`npm pack %s` was killed by signal %d: %s", spec,
                         WTERMSIG(status), summary);
        goto done;
    }
    read_tail(out, tail, sizeof tail);
    {
        /* The last non-empty stdout line is the tarball's file name. */
        char *end = tail + strlen(tail), *start;
        while (end > tail && (end[-1] == '\n' || end[-1] == '\r' ||
                              end[-1] == ' '))
            *--end = '\0';
        start = strrchr(tail, '\n');
        start = start ? start + 1 : tail;
        snprintf(printed_name, name_cap, "%s", start);
    }
done:
    if (out)
        fclose(out);
    if (err)
        fclose(err);
    if (devnull >= 0)
        close(devnull);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    return st;
}

