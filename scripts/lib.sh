# Shared helpers of the project's scripts (sourced, not run).

# Makes sure a PostgreSQL server answers, in this order:
#  1. a server the user named (DATABASE_URL for the portal, TEST_DATABASE_SERVER for the
#     tests) keeps precedence: it must answer, nothing else is tried;
#  2. a server on 127.0.0.1:5432 (or $PGHOST:$PGPORT) that answers is used as it is;
#  3. otherwise the project's private cluster (see start_private_cluster): PostgreSQL's
#     binaries from the system's packages (installed with apt-get when missing and we are
#     root on Debian/Ubuntu), a cluster initialised under target/postgres, on port
#     $PORTAL_PG_PORT (55432), trust for local connections only. DATABASE_URL and
#     TEST_DATABASE_SERVER are exported to point at it.
# PORTAL_POSTGRES=private skips step 2 (CI uses it to test the private path).
ensure_postgres() {
  if [ -n "${DATABASE_URL:-}${TEST_DATABASE_SERVER:-}" ]; then
    local named=${TEST_DATABASE_SERVER:-$DATABASE_URL}
    if pg_isready -q -d "$named" 2>/dev/null; then
      return 0
    fi
    echo "The PostgreSQL server you named (DATABASE_URL / TEST_DATABASE_SERVER) does not" \
      "answer: start it, or unset both to let the scripts run a private cluster." >&2
    return 1
  fi
  local host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432}
  if [ "${PORTAL_POSTGRES:-}" != private ] && pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    return 0
  fi
  start_private_cluster || return 1
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/portal"
  export TEST_DATABASE_SERVER="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT"
}

# The directory of PostgreSQL's server binaries (initdb, pg_ctl), newest version first.
postgres_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r) \
    "$(pg_config --bindir 2>/dev/null)"; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# Installs PostgreSQL from the system's packages (root on Debian/Ubuntu only), without
# letting the package create or start a system cluster of its own.
install_postgres_packages() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  echo "PostgreSQL's server binaries are missing: installing them with apt-get" >&2
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q postgresql postgresql-client
}

# Starts (or reuses) the project's private cluster in target/postgres on $PORTAL_PG_PORT
# (default 55432): listening on 127.0.0.1 and a socket in that directory, trust for local
# connections only (initdb --auth=trust writes pg_hba lines for the socket, 127.0.0.1 and
# ::1, nothing else). The system's clusters and their pg_hba.conf are not touched. As root
# the cluster is owned by the `postgres` user (PostgreSQL refuses to run as root). Sets
# PRIVATE_PG_PORT.
start_private_cluster() {
  local port=${PORTAL_PG_PORT:-55432}
  local dir=${PORTAL_PG_DIR:-$PWD/target/postgres}
  local bindir
  if ! bindir=$(postgres_bindir); then
    install_postgres_packages && bindir=$(postgres_bindir) || {
      cat >&2 <<MSG
No PostgreSQL server answers on ${PGHOST:-127.0.0.1}:${PGPORT:-5432}, and PostgreSQL's server
binaries (initdb, pg_ctl) are not installed, so the scripts cannot run a private cluster.
Install them (Debian/Ubuntu, as root: apt-get install postgresql) and run this again, or set
DATABASE_URL (and TEST_DATABASE_SERVER for the tests) to a server that runs.
MSG
      return 1
    }
  fi
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    as=(runuser -u postgres --)
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    if ! "${as[@]}" test -w "$dir"; then
      echo "The private cluster's directory $dir is not reachable by the postgres user" \
        "(a parent directory is closed to it); set PORTAL_PG_DIR to a directory it can use." >&2
      return 1
    fi
  fi
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    echo "Initialising the project's private PostgreSQL cluster in $dir/data" >&2
    "${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      echo "initdb failed; see $dir/initdb.log" >&2
      return 1
    }
  fi
  if ! "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "Starting the private PostgreSQL cluster on 127.0.0.1:$port (log: $dir/server.log)" >&2
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200" >/dev/null || {
      echo "The private cluster did not start; see $dir/server.log" >&2
      return 1
    }
  fi
  if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
    echo "The private cluster in $dir runs, but not on port $port (started earlier with" \
      "another PORTAL_PG_PORT?): stop it with '$bindir/pg_ctl -D $dir/data stop'." >&2
    return 1
  fi
  PRIVATE_PG_PORT=$port
}

# Stops the private cluster in $PORTAL_PG_DIR (default target/postgres), if it runs.
stop_private_cluster() {
  local dir=${PORTAL_PG_DIR:-$PWD/target/postgres} bindir
  bindir=$(postgres_bindir) || return 0
  [ -s "$dir/data/PG_VERSION" ] || return 0
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
