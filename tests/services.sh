# Sourced by `make test`: start Debian's PostgreSQL 15 (logical decoding on, wal2json available) and export its DSN.
# The Kafka-protocol broker (Tansu) and the chdb engine are started by tests/conftest.py.
set -e
PG_CONF_DIR=/etc/postgresql/15/main/conf.d
if [ "$(id -u)" = 0 ] && [ ! -d "$PG_CONF_DIR" ] && command -v pg_createcluster >/dev/null; then
    pg_createcluster 15 main >/dev/null   # Debian creates it on install, unless createcluster.conf says not to
    mkdir -p "$PG_CONF_DIR"
fi
if [ -d "$PG_CONF_DIR" ] && [ "$(id -u)" = 0 ]; then
    cat > "$PG_CONF_DIR/aietl-tests.conf" <<'CONF'
wal_level = 'logical'
max_replication_slots = 10
max_wal_senders = 10
listen_addresses = '127.0.0.1'
CONF
    pg_ctlcluster 15 main restart || pg_ctlcluster 15 main start
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aietl') THEN
            CREATE ROLE aietl LOGIN SUPERUSER REPLICATION PASSWORD 'aietl';
        END IF; END \$\$;" >/dev/null
    export AIETL_TEST_PG_DSN="postgresql://aietl:aietl@127.0.0.1:5432/postgres"
    echo "tests use Debian PostgreSQL 15 at 127.0.0.1:5432"
else
    echo "Debian PostgreSQL not available as root: tests start an embedded PostgreSQL"
fi
set +e
