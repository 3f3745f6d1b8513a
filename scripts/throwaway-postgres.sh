# shellcheck shell=bash
# start_throwaway_postgres / stop_throwaway_postgres: a disposable PostgreSQL cluster for tests.
# Sets TESSERA_TEST_DATABASE_URL to a superuser URL on a free loopback port.

find_pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

install_postgres() {
    echo "PostgreSQL not found: installing Debian's postgresql package" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000))
}

start_throwaway_postgres() {
    local bindir
    bindir=$(find_pg_bindir) || { install_postgres; bindir=$(find_pg_bindir); } || {
        echo "could not find or install PostgreSQL (initdb, pg_ctl)" >&2; return 1; }
    PG_TMP=$(mktemp -d /tmp/tessera-pg.XXXXXX)
    PG_PORT=$(free_port)
    # initdb refuses to run as root: run the cluster as the postgres system user then.
    PG_AS=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_TMP" postgres
        chown postgres "$PG_TMP"
        PG_AS=(runuser -u postgres --)
    fi
    "${PG_AS[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U tessera -A trust -E UTF8 --locale=C \
        --no-sync >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; return 1; }
    "${PG_AS[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        start >/dev/null || { cat "$PG_TMP/server.log" >&2; return 1; }
    PG_BINDIR=$bindir
    export TESSERA_TEST_DATABASE_URL="postgres://tessera@127.0.0.1:$PG_PORT/postgres"
    echo "started throw-away PostgreSQL ($bindir) on 127.0.0.1:$PG_PORT" >&2
}

stop_throwaway_postgres() {
    if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
        "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
    fi
}
