-- cel.sql - the CEL table cel_pgsql writes (asterisk-conf/cel_pgsql.conf) and
-- the callstatus daemon reads. cel_pgsql fills the columns it knows by name
-- and leaves the others (id) to their defaults.
--   psql -d asterisk -f cel.sql
CREATE TABLE IF NOT EXISTS cel (
	id          bigserial PRIMARY KEY,
	eventtype   varchar(30)  NOT NULL,
	-- UTC (cel_pgsql.conf usegmtime = yes), microseconds.
	eventtime   timestamp    NOT NULL,
	userdeftype varchar(255) NOT NULL DEFAULT '',
	cid_name    varchar(80)  NOT NULL DEFAULT '',
	cid_num     varchar(80)  NOT NULL DEFAULT '',
	cid_ani     varchar(80)  NOT NULL DEFAULT '',
	cid_rdnis   varchar(80)  NOT NULL DEFAULT '',
	cid_dnid    varchar(80)  NOT NULL DEFAULT '',
	exten       varchar(80)  NOT NULL DEFAULT '',
	context     varchar(80)  NOT NULL DEFAULT '',
	channame    varchar(80)  NOT NULL DEFAULT '',
	appname     varchar(80)  NOT NULL DEFAULT '',
	appdata     varchar(512) NOT NULL DEFAULT '',
	amaflags    integer      NOT NULL DEFAULT 0,
	accountcode varchar(80)  NOT NULL DEFAULT '',
	peeraccount varchar(80)  NOT NULL DEFAULT '',
	uniqueid    varchar(150) NOT NULL DEFAULT '',
	linkedid    varchar(150) NOT NULL DEFAULT '',
	userfield   varchar(255) NOT NULL DEFAULT '',
	peer        varchar(80)  NOT NULL DEFAULT '',
	extra       text         NOT NULL DEFAULT ''
);
-- The backfill asks "which linkedids had activity between T1 and T2", then
-- "every row of these linkedids", then "every row of their channels" (a
-- picked-up or transferred phone has rows under its own linkedid too).
CREATE INDEX IF NOT EXISTS cel_eventtime ON cel (eventtime);
CREATE INDEX IF NOT EXISTS cel_linkedid ON cel (linkedid);
CREATE INDEX IF NOT EXISTS cel_uniqueid ON cel (uniqueid);
