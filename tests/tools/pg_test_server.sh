#!/usr/bin/env bash
# pg_test_server.sh - a throwaway PostgreSQL server for the gallery tests,
# from Debian's binaries (package postgresql: /usr/lib/postgresql/*/bin).
#
#   pg_test_server.sh start DIR   initdb in DIR/data, start on 127.0.0.1 at a
#                                 free port and on a Unix socket in DIR/sock,
#                                 create databases facekit and facekit_other;
#                                 writes DIR/port, DIR/password (of user
#                                 facekit; TCP logins need it, the socket
#                                 trusts), DIR/bin; exit 77 when PostgreSQL
#                                 is not installed
#   pg_test_server.sh restart DIR restart it (clients lose their connections)
#   pg_test_server.sh stop DIR    stop the server and delete DIR
#
# initdb and postgres refuse to run as root: as root they run as the user
# $FK_PG_USER (default nobody), and DIR is handed to that user. The server
# listens on loopback only and runs with fsync off (a test's data need not
# survive a power cut). FK_PG_BIN names another folder of server binaries.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|restart|stop DIR" >&2
  exit 2
fi

# Run a command as the server's user (ourselves unless we are root).
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${FK_PG_USER:-nobody}" -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  bin=""
  # FK_PG_BIN: another folder holding initdb and pg_ctl.
  for d in ${FK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)}; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bin=$d; break; fi
  done
  if [ -z "$bin" ]; then
    echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 77
  fi
  mkdir -p "$dir/data" "$dir/sock"
  head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password"
  echo "$bin" > "$dir/bin"
  if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$dir"
    chown -R "${FK_PG_USER:-nobody}" "$dir"
  fi
  as_user "$bin/initdb" -D "$dir/data" -U facekit --pwfile="$dir/password" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync \
    > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  started=""
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off \
            -c full_page_writes=off -c max_connections=40" start > /dev/null 2>&1; then
      started=$port
      break
    fi
  done
  if [ -z "$started" ]; then
    echo "could not start PostgreSQL:" >&2
    tail -5 "$dir/server.log" >&2 || true
    exit 1
  fi
  echo "$started" > "$dir/port"
  for db in facekit facekit_other; do
    as_user "$bin/createdb" -h "$dir/sock" -p "$started" -U facekit "$db"
  done
  ;;
restart)
  as_user "$(cat "$dir/bin")/pg_ctl" -D "$dir/data" -m fast -w -t 60 restart > /dev/null
  ;;
stop)
  if [ -f "$dir/bin" ] && [ -d "$dir/data" ]; then
    as_user "$(cat "$dir/bin")/pg_ctl" -D "$dir/data" -m immediate -w stop \
      > /dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|restart|stop DIR" >&2
  exit 2
  ;;
esac
