#!/bin/sh
# Promote pg2 and point every PgBouncer at it. Run by hand, or as the hook of a failover
# manager (Patroni's on_role_change callback, pg_auto_failover, repmgr's promote_command),
# only once pg1 is known dead or fenced: two primaries would each accept writes.
# Parley needs no restart: sends during the switch wait in PgBouncer (query_wait_timeout) or
# get `unavailable` and are resent by clients with the same client_msg_id (stored once).
set -eu
NEW_PRIMARY=10.0.1.12
ssh postgres@"$NEW_PRIMARY" pg_ctlcluster 15 main promote
for bouncer in 10.0.1.11 10.0.1.12; do
    # pgbouncer.ini's [databases] line is rewritten, then RELOADed (no client is dropped).
    ssh root@"$bouncer" "sed -i 's/^parley = host=[^ ]*/parley = host=$NEW_PRIMARY/' /etc/pgbouncer/pgbouncer.ini"
    psql -h "$bouncer" -p 6432 -U pgbouncer pgbouncer -c RELOAD
done
