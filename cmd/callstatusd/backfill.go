package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/backfill"
	"github.com/callstatus/callstatus/publish"
)

func backfillCmd(stdout, stderr io.Writer) *cobra.Command {
	var fromS, toS string
	var dry bool
	c := &cobra.Command{
		Use:   "backfill --from T --to T [--dry-run]",
		Short: "Derive the calls that ended in a window from CEL and queue_log; print them (--dry-run) or publish them",
		Long: `Read the CEL rows (backfill.dsn, backfill.table) and queue_log lines (backfill.queue_log)
of every call with activity in [--from, --to), run them through the engine with the daemon's
rules and keep the calls that ended in the window. --dry-run prints them, one JSON status per
line; otherwise they are published (backfilled: true) to the configured NATS (nats.urls, or
the embedded server of a running daemon on nats.embedded.host:port), where JetStream's dedupe
window drops a status already published within it. Times are RFC 3339
(2026-12-01T08:00:00Z). backfill.enabled need not be set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := time.Parse(time.RFC3339, fromS)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			to, err := time.Parse(time.RFC3339, toS)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !to.After(from) {
				return errors.New("--to must be after --from")
			}
			cfg, _, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			bc := cfg.Backfill
			bc.Enabled = true // the command is the switch
			if err := errors.Join(bc.Validate(), cfg.Mapping.Validate()); err != nil {
				return err
			}
			log := newLogger(cfg.Log, stderr)
			store := backfill.NewDBStore(bc)
			defer store.Close()
			b := &backfill.Backfiller{Rules: cfg.Mapping, Store: store, QueueLog: bc.QueueLog, Log: log}
			ctx, cancel := context.WithTimeout(cmd.Context(), bc.QueryTimeout)
			defer cancel()
			out, rep, err := b.Window(ctx, from, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "backfill: %d linkedids, %d rows, %d queue_log lines, %d bad rows; %d calls ended in the window, %d still open, %d outside\n",
				rep.LinkedIDs, rep.Rows, rep.QueueLines, rep.BadRows, rep.Finished, rep.Open, rep.Outside)
			if dry {
				enc := json.NewEncoder(stdout)
				for _, cs := range out {
					if err := enc.Encode(cs); err != nil {
						return err
					}
				}
				return nil
			}
			nc := cfg.NATS
			if nc.UseEmbedded() {
				if !nc.Embedded.Listen || nc.Embedded.Port <= 0 {
					return errors.New("backfill: publishing needs nats.urls, or a running daemon's embedded server on a fixed nats.embedded.port")
				}
				nc.URLs = []string{"nats://" + net.JoinHostPort(nc.Embedded.Host, strconv.Itoa(nc.Embedded.Port))}
			}
			conn, err := publish.Connect(nc, log)
			if err != nil {
				return err
			}
			defer conn.Drain()
			var st publish.Stats
			pub, err := publish.New(conn, nc, cfg.Mapping.PBXID, &st, log)
			if err != nil {
				return err
			}
			pub.UserLegs = cfg.Mapping.UserLegs
			for _, cs := range out {
				pctx, cancel := context.WithTimeout(cmd.Context(), nc.PublishTimeout)
				err := pub.Publish(pctx, cs)
				cancel()
				if err != nil {
					return fmt.Errorf("backfill: publish %s: %w", cs.CallID, err)
				}
			}
			fmt.Fprintf(stderr, "backfill: published %d statuses\n", len(out))
			return nil
		},
	}
	addConfigFlags(c.Flags(), "config", "pbx-id", "log-level", "log-format", "nats-url")
	c.Flags().StringVar(&fromS, "from", "", "window start, RFC 3339")
	c.Flags().StringVar(&toS, "to", "", "window end (excluded), RFC 3339")
	c.Flags().BoolVar(&dry, "dry-run", false, "print the statuses, publish nothing")
	c.MarkFlagRequired("from")
	c.MarkFlagRequired("to")
	return c
}
