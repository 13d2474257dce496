#!/usr/bin/env bash
# Runs examples/cdc_revenue.rs (orders joined with customers, revenue per
# country, maintained incrementally from PostgreSQL CDC) against a
# throw-away PostgreSQL cluster of its own, the way the tests start theirs:
#
#   scripts/install-postgres.sh && scripts/cdc-revenue-demo.sh [WORKDIR]
#
# 1. starts a cluster (wal_level=logical) on a free port, in a temporary
#    directory, with tables `customers` and `orders` and some rows; the
#    pipeline's files go to WORKDIR (default target/cdc-revenue-demo);
# 2. runs the pipeline until it is idle: snapshot, result;
# 3. changes rows (a customer moves country, orders are deleted, repriced
#    and added) while the pipeline is down, and runs it again: it restores
#    from its snapshot, streams the changes, and updates the result;
# 4. prints the result files next to PostgreSQL's own answer, and fails if
#    they differ. The cluster is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/target/cdc-revenue-demo}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ]; then
    echo "no PostgreSQL server binaries: run scripts/install-postgres.sh" >&2
    exit 1
fi

rm -rf "$work"
mkdir -p "$work"
# The cluster lives in a directory of its own under /tmp: when we run as
# root the server runs as the `postgres` user, who must reach it (WORKDIR
# may be under a home directory it cannot enter).
pg=$(mktemp -d /tmp/cdc-revenue-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses root.
    chown -R postgres: "$pg"
    as_pg=(runuser -u postgres --)
fi
stop() {
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$pg/data" -m fast stop > /dev/null 2>&1 || true
    rm -rf "$pg"
}
trap stop EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 \
    --locale=C --no-sync > "$pg/initdb.log"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$bindir/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w \
    -o "-p $port -k $pg -c listen_addresses=127.0.0.1 -c wal_level=logical -c fsync=off" \
    start > /dev/null
sql() { "${as_pg[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -c "$1"; }

sql "CREATE TABLE customers (id bigint PRIMARY KEY, country text);
     CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2));
     INSERT INTO customers SELECT g, (ARRAY['FR','DE','NL','PT'])[1 + g % 4] FROM generate_series(1, 100) g;
     INSERT INTO orders SELECT g, 1 + g % 100, (g % 500) / 4.0 FROM generate_series(1, 10000) g;"

cat > "$work/conn.properties" <<EOF
name=cdc-revenue
connector.class=PostgresCdc
database.hostname=127.0.0.1
database.port=$port
database.user=postgres
database.password=unused-with-trust-auth
database.dbname=postgres
topic.prefix=shop
table.include.list=public\\.customers,public\\.orders
EOF

run() {
    (cd "$root" && cargo run --release -q -p timely-connect-operators --example cdc_revenue -- \
        "$work/conn.properties" "$work/out" --until-idle-ms 2000 -w 2)
}
show() {
    echo "--- $1: out/revenue_current.jsonl"
    cat "$work/out/revenue_current.jsonl"
}

run
show "after the snapshot"
sql "UPDATE customers SET country = 'SE' WHERE id <= 10;
     DELETE FROM orders WHERE id % 7 = 0;
     UPDATE orders SET amount = amount * 2 WHERE customer_id = 42;
     INSERT INTO orders SELECT g, 1 + g % 100, 9.99 FROM generate_series(10001, 10500) g;"
run
show "after the changes"
echo "--- the last change events: out/revenue_events.jsonl"
tail -n 6 "$work/out/revenue_events.jsonl"

want=$(sql "SELECT c.country || ' ' || (sum(o.amount) * 100)::bigint FROM orders o
            JOIN customers c ON c.id = o.customer_id GROUP BY c.country ORDER BY 1")
got=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)["row"]
    print(row[0], row[1])
' "$work/out/revenue_current.jsonl" | sort)
echo "--- PostgreSQL's answer (country, cents)"
echo "$want"
if [ "$want" != "$got" ]; then
    echo "the pipeline's result differs from PostgreSQL's" >&2
    exit 1
fi
echo "the pipeline's result equals PostgreSQL's"
