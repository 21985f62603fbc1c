package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"
)

func tailCmd(stdout io.Writer) *cobra.Command {
	var server, subject string
	var raw bool
	c := &cobra.Command{
		Use:   "tail [--server URL] [--subject callstatus.>] [--json]",
		Short: "Print call statuses as they are published",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			opts, err := publish.ClientOptions(cfg.NATS)
			if err != nil {
				return err
			}
			url := server
			if url == "" {
				url = strings.Join(cfg.NATS.URLs, ",")
			}
			if url == "" {
				port := cfg.NATS.Embedded.Port
				if port <= 0 {
					port = 4222
				}
				url = fmt.Sprintf("nats://%s:%d", cfg.NATS.Embedded.Host, port)
			}
			if subject == "" {
				subject = cfg.NATS.SubjectPrefix + ".>"
			}
			// Started before the daemon (or while it restarts), tail
			// waits for the server instead of failing.
			nc, err := nats.Connect(url, append(opts, nats.Name("callstatusd tail"), nats.MaxReconnects(-1),
				nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second))...)
			if err != nil {
				return fmt.Errorf("tail: connect to %s: %w", publish.RedactURLs(strings.Split(url, ",")), err)
			}
			defer nc.Close()
			if !nc.IsConnected() {
				fmt.Fprintf(cmd.ErrOrStderr(), "tail: waiting for NATS at %s…\n", publish.RedactURLs(strings.Split(url, ",")))
			}
			var mu sync.Mutex
			_, err = nc.Subscribe(subject, func(m *nats.Msg) {
				mu.Lock()
				defer mu.Unlock()
				if raw {
					fmt.Fprintf(stdout, "%s\n", m.Data)
					return
				}
				fmt.Fprintln(stdout, formatStatus(m))
			})
			if err != nil {
				return fmt.Errorf("tail: subscribe %s: %w", subject, err)
			}
			if nc.IsConnected() {
				if err := nc.Flush(); err != nil {
					return fmt.Errorf("tail: subscribe %s: %w", subject, err)
				}
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	addConfigFlags(c.Flags())
	c.Flags().StringVar(&server, "server", "", "NATS URL (default: nats.urls, else the embedded server's address)")
	c.Flags().StringVar(&subject, "subject", "", "subject to follow (default <nats.subject_prefix>.>)")
	c.Flags().BoolVar(&raw, "json", false, "print each status as raw JSON")
	return c
}

// formatStatus is one readable line: time, category/status, reason,
// from → to, agent, queue, ring/wait/talk seconds, call id. The first
// columns are padded so a stream of lines reads as a table.
func formatStatus(m *nats.Msg) string {
	var cs mapping.CallStatus
	if err := json.Unmarshal(m.Data, &cs); err != nil {
		return fmt.Sprintf("%s: undecodable status on %s: %v", time.Now().Format(time.RFC3339), m.Subject, err)
	}
	var b strings.Builder
	when := cs.End
	if when.IsZero() {
		when = time.Now()
	}
	reason := cs.Reason
	if reason == "" {
		reason = "-"
	}
	fmt.Fprintf(&b, "%s  %-28s %-14s %s → %s", when.Local().Format("2006-01-02 15:04:05"),
		string(cs.Category)+"/"+string(cs.Status), reason, party(cs.From), party(cs.To))
	if cs.Agent != nil {
		fmt.Fprintf(&b, " agent=%s", party(*cs.Agent))
	}
	if len(cs.Queues) > 0 {
		var qs []string
		for _, q := range cs.Queues {
			qs = append(qs, q.Queue)
		}
		fmt.Fprintf(&b, " queue=%s", strings.Join(qs, ","))
	}
	fmt.Fprintf(&b, " ring=%.0fs wait=%.0fs talk=%.0fs", cs.RingSeconds, cs.WaitSeconds, cs.TalkSeconds)
	if cs.Incomplete {
		b.WriteString(" incomplete")
	}
	fmt.Fprintf(&b, " call=%s", cs.CallID)
	return b.String()
}

func party(p mapping.Party) string {
	switch {
	case p.Number != "" && p.Name != "":
		return fmt.Sprintf("%s <%s>", p.Name, p.Number)
	case p.Number != "":
		return p.Number
	case p.Name != "":
		return p.Name
	case p.Endpoint != "":
		return p.Endpoint
	case p.Channel != "":
		return p.Channel
	}
	return "?"
}
