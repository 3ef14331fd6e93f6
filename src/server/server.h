/*
 * server.h - `facekit serve`: deepface's REST API over HTTP
 * (libmicrohttpd). The CLI dispatches `facekit serve ...` here; everything
 * else about the server is internal to src/server/ (srv.h).
 */
#ifndef FK_SERVER_H
#define FK_SERVER_H

/* Run the server with the command line argv[0..argc) (argv[0] is "serve")
 * until SIGTERM or SIGINT, then drain the requests in flight. Returns the
 * process exit code: 0 after a clean stop, 1 when it could not start, 2 on
 * a usage error. */
int serve_main(int argc, char **argv);

#endif
