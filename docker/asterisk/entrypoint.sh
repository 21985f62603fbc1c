#!/bin/sh
# entrypoint.sh - the lab container: PostgreSQL first (cel_pgsql reads its
# table's columns when it loads, so the database must answer before Asterisk
# starts), then Asterisk in the foreground as PID 1's successor.
set -eu
ver=$(ls /usr/lib/postgresql | sort -n | tail -n1)
pg_ctlcluster "$ver" main start
i=0
until pg_isready -q -h 127.0.0.1; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "entrypoint: PostgreSQL not ready" >&2; exit 1; }
	sleep 0.1
done
exec "$@"
