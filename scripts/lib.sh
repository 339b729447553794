# Shared helpers of the project's scripts (sourced, not run).

# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 (or $PGHOST/$PGPORT). If the
# machine has a cluster that is stopped, starts it; if it has none, says what to do.
ensure_postgres() {
  local host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432}
  if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    return 0
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "PostgreSQL is not answering on $host:$port; starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do
      pg_isready -q -h "$host" -p "$port" && return 0
      sleep 1
    done
  fi
  cat >&2 <<MSG
No PostgreSQL server answers on $host:$port.
Install and start one (Debian: apt-get install postgresql && pg_ctlcluster 15 main start),
allow trust or password login for user postgres on 127.0.0.1, or point DATABASE_URL (and
TEST_DATABASE_SERVER for the tests) at a server that runs.
MSG
  return 1
}
