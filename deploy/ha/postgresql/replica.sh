#!/bin/sh
# Makes pg2 a streaming replica of pg1 (run on pg2 as postgres, with its cluster stopped and its
# data directory empty). The fault suite does the same on loopback (tests/faults/harness.py).
set -eu
PRIMARY=10.0.1.11
DATA=/var/lib/postgresql/15/main
pg_basebackup -h "$PRIMARY" -U replicator -D "$DATA" -R -X stream -c fast -P
# -R wrote standby.signal and primary_conninfo; name this standby as the primary expects it
# (synchronous_standby_names = 'pg2').
echo "primary_conninfo = 'host=$PRIMARY user=replicator application_name=pg2'" \
    >> "$DATA/postgresql.auto.conf"
pg_ctlcluster 15 main start
