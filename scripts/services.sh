#!/usr/bin/env bash
# Starts the servers the service tests talk to, on loopback only, installing them from Debian's
# packages when missing: PostgreSQL (role and database `vegafs`/`vegafs_test`) and Redis (no
# persistence). Idempotent: a server already running is left as it is. Needs root the first time.
# Also a second PostgreSQL cluster, `chaos` (database `vegafs_chaos`), that the failure tests stop
# and restart at will without disturbing tests running against the main one.
# Prints the URLs the tests read, as shell assignments.
set -euo pipefail
pg_port=${VEGAFS_TEST_PG_PORT:-5432}
redis_port=${VEGAFS_TEST_REDIS_PORT:-6379}
chaos_port=${VEGAFS_TEST_CHAOS_PG_PORT:-5433}

"$(dirname "$0")/ensure-packages.sh" postgresql redis-server

wait_for() { # what, command...
    local what=$1; shift
    for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$what did not come up" >&2
    return 1
}

version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
start_cluster() { # name port database
    local name=$1 port=$2 database=$3
    if ! pg_lsclusters --no-header | awk '{print $1, $2}' | grep -qx "$version $name"; then
        pg_createcluster --port "$port" "$version" "$name" >/dev/null
    fi
    if ! pg_ctlcluster "$version" "$name" status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >&2
    fi
    wait_for "PostgreSQL ($name)" pg_isready -q -h 127.0.0.1 -p "$port"
    psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -tAc \"$1\""; }
    [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'vegafs'")" = 1 ] ||
        psql_admin "CREATE ROLE vegafs LOGIN PASSWORD 'vegafs' CREATEDB" >/dev/null
    [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$database'")" = 1 ] ||
        psql_admin "CREATE DATABASE $database OWNER vegafs" >/dev/null
}
start_cluster main "$pg_port" vegafs_test
start_cluster chaos "$chaos_port" vegafs_chaos

if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
        --logfile /tmp/vegafs-test-redis.log >/dev/null
fi
wait_for Redis redis-cli -h 127.0.0.1 -p "$redis_port" ping

echo "VEGAFS_TEST_DATABASE_URL=postgresql://vegafs:vegafs@127.0.0.1:$pg_port/vegafs_test"
echo "VEGAFS_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0"
echo "VEGAFS_TEST_CHAOS_DATABASE_URL=postgresql://vegafs:vegafs@127.0.0.1:$chaos_port/vegafs_chaos"
