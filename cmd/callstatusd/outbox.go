package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/outbox"
)

// outboxCmd lists and requeues the statuses parked in the outbox's dead
// letter (those NATS refused for good).
func outboxCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "outbox", Short: "List or requeue the statuses NATS refused for good (the outbox's dead letter)"}
	dir := func(cmd *cobra.Command) (adapter.Config, string, error) {
		cfg, _, err := loadConfig(cmd.Flags())
		if err != nil {
			return cfg, "", err
		}
		if !cfg.Outbox.Durable {
			return cfg, "", errors.New("outbox.durable is false: parked statuses live in the daemon's memory only")
		}
		if cfg.Outbox.Dir == "" && cfg.DataDir == "" {
			return cfg, "", errors.New("data_dir (or outbox.dir) must be set")
		}
		return cfg, cfg.Outbox.Path(cfg.DataDir), nil
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the parked statuses, oldest first: when, call id, subject, attempts, why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, d, err := dir(cmd)
			if err != nil {
				return err
			}
			parked, err := outbox.ReadParked(d)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				enc := json.NewEncoder(stdout)
				for _, p := range parked {
					if err := enc.Encode(p); err != nil {
						return err
					}
				}
				return nil
			}
			if len(parked) == 0 {
				fmt.Fprintf(stdout, "no parked statuses in %s\n", d)
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PARKED AT\tCALL ID\tSUBJECT\tATTEMPTS\tREASON")
			for _, p := range parked {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.ParkedAt.Format("2006-01-02 15:04:05Z07:00"), p.Status.CallID, p.Subject, p.Attempts, p.Reason)
			}
			return tw.Flush()
		},
	}
	addConfigFlags(list.Flags(), "config", "data-dir")
	list.Flags().Bool("json", false, "one JSON record per line (parked_at, reason, attempts, subject, status)")

	requeue := &cobra.Command{
		Use:   "requeue [CALL_ID...]",
		Short: "Move parked statuses (all, or those named) back into the outbox; the daemon must be stopped, it publishes them at its next start",
		RunE: func(cmd *cobra.Command, ids []string) error {
			cfg, d, err := dir(cmd)
			if err != nil {
				return err
			}
			release, err := cfg.LockState()
			if err != nil {
				var inUse *adapter.InUseError
				if errors.As(err, &inUse) {
					return fmt.Errorf("%w: stop the daemon first (requeue writes its outbox)", err)
				}
				return err
			}
			defer release()
			moved, err := outbox.Requeue(d, max(cfg.Outbox.Memory, 1), ids, nil)
			if err != nil {
				return err
			}
			if len(moved) == 0 {
				fmt.Fprintln(stdout, "no parked statuses")
				return nil
			}
			fmt.Fprintf(stdout, "requeued %d: %s (published at the next start)\n", len(moved), strings.Join(moved, " "))
			return nil
		},
	}
	addConfigFlags(requeue.Flags(), "config", "data-dir")
	c.AddCommand(list, requeue)
	return c
}
