package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/publish"
)

// getCmd prints a call's final status from the ledger bucket.
func getCmd(stdout io.Writer) *cobra.Command {
	var server string
	c := &cobra.Command{
		Use:   "get [--config FILE] [--server URL] CALL_ID",
		Short: "Print the final status of one call from the NATS KV bucket (nats.ledger.bucket)",
		Long: `Print the final status of one call, as published, from the JetStream KV bucket
the daemon writes once NATS acknowledged it (nats.ledger.bucket, key
<pbx>.<linkedid>). CALL_ID is the call id (<pbx>:<linkedid>), or the Linkedid
alone (the PBX is then mapping.pbx_id). The server is found as for tail.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l := loadLayers(cmd.Flags(), os.Environ())
			if err := errors.Join(l.errs...); err != nil {
				return err
			}
			cfg := l.cfg
			callID := args[0]
			if !strings.Contains(callID, ":") {
				callID = cfg.Mapping.PBXID + ":" + callID
			}
			opts, err := publish.ClientOptions(cfg.NATS)
			if err != nil {
				return err
			}
			url, _, err := natsServer("get", server, l)
			if err != nil {
				return err
			}
			shown := publish.RedactURLs(strings.Split(url, ","))
			nc, err := nats.Connect(url, append(opts, nats.Name("callstatusd get"))...)
			if err != nil {
				return fmt.Errorf("get: connect to %s: %w", shown, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			bucket := cfg.NATS.Ledger.Bucket
			ledger, err := publish.BindLedger(ctx, js, bucket)
			if err != nil {
				return fmt.Errorf("get: %w (on %s)", err, shown)
			}
			raw, err := ledger.Raw(ctx, callID)
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if raw == nil {
				return fmt.Errorf("get: no status for %s in %s (key %s): not published yet, or longer ago than nats.ledger.ttl (%s)",
					callID, bucket, publish.LedgerKey(callID), cfg.NATS.Ledger.TTL)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, raw, "", "  "); err != nil {
				return fmt.Errorf("get: %s: %w", callID, err)
			}
			out.WriteByte('\n')
			_, err = stdout.Write(out.Bytes())
			return err
		},
	}
	addConfigFlags(c.Flags(), "config")
	c.Flags().StringVar(&server, "server", "", "NATS URL(s), comma-separated (default: nats.urls, else the embedded server's address)")
	return c
}
