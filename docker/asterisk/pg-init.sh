#!/bin/sh
# pg-init.sh - run once at image build: the lab's PostgreSQL cluster, the
# database `asterisk`, the CEL table (asterisk-conf/cel.sql), the writer
# `asterisk` (cel_pgsql) and the reader `callstatus` (the daemon's backfill,
# SELECT only). Passwords are the lab's, as in cel_pgsql.conf and lab/docker.go.
set -eu
# The newest installed server; its "main" cluster, created here when the
# package's postinst did not (a debootstrap root may not have run it).
ver=$(ls /usr/lib/postgresql | sort -n | tail -n1)
[ -d "/etc/postgresql/$ver/main" ] || pg_createcluster "$ver" main
conf=/etc/postgresql/$ver/main
# Reachable from the host through the published port (the daemon) and from
# Asterisk on 127.0.0.1; password authentication for both.
cat >>"$conf/postgresql.conf" <<CONF
listen_addresses = '*'
# A lab database: losing the last transactions on a crash is fine.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
cat >"$conf/pg_hba.conf" <<HBA
local all postgres peer
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
HBA
pg_ctlcluster "$ver" main start
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<SQL
CREATE ROLE asterisk LOGIN PASSWORD 'asterisk-secret';
CREATE ROLE callstatus LOGIN PASSWORD 'callstatus-secret';
CREATE DATABASE asterisk OWNER asterisk;
SQL
PGPASSWORD=asterisk-secret psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U asterisk -d asterisk -f /etc/asterisk/cel.sql
PGPASSWORD=asterisk-secret psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U asterisk -d asterisk \
	-c 'GRANT SELECT ON cel TO callstatus'
pg_ctlcluster "$ver" main stop
