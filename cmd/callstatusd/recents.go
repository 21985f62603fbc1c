package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"
)

var userOutcomes = []mapping.UserOutcome{mapping.UserAnswered, mapping.UserAnsweredElsewhere, mapping.UserMissed, mapping.UserBusy}

func recentsCmd(stdout io.Writer) *cobra.Command {
	var server, outcome string
	var last int
	var raw bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "recents EXTENSION [--config FILE] [--server URL] [--last N] [--outcome missed] [--json]",
		Short: "Print an extension's last calls, from the per-user messages in the stream",
		Long: `Print the last calls of one extension (newest last), read from the per-user
messages <nats.subject_prefix>.<pbx>.user.<extension>.<outcome> that the
stream (nats.stream.name) keeps, every PBX: time, outcome, direction,
from → to, ring seconds, call id. --outcome keeps one outcome (answered,
answered_elsewhere, missed, busy). The server is chosen as tail's: --server,
else nats.urls, else the embedded server's address.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ext := args[0]
			if err := mapping.CheckSubjectToken("recents: EXTENSION", ext); err != nil {
				return err
			}
			if outcome != "" && !slices.Contains(userOutcomes, mapping.UserOutcome(outcome)) {
				return fmt.Errorf("recents: --outcome must be answered, answered_elsewhere, missed or busy, got %q", outcome)
			}
			if last < 1 {
				return fmt.Errorf("recents: --last must be at least 1, got %d", last)
			}
			l := loadLayers(cmd.Flags(), os.Environ())
			if err := errors.Join(l.errs...); err != nil {
				return err
			}
			n := l.cfg.NATS
			filter := publish.UserSubjects(n.SubjectPrefix, ext)
			if outcome != "" {
				filter = strings.TrimSuffix(filter, ">") + outcome
			}
			nc, err := dialNATS(cmd.ErrOrStderr(), "recents", filter, server, l, false)
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			bodies, err := lastMessages(ctx, nc, n.Stream.Name, filter, last)
			if err != nil {
				return fmt.Errorf("recents: %w", err)
			}
			if len(bodies) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "recents: no calls for %s in stream %s\n", ext, n.Stream.Name)
			}
			for _, b := range bodies {
				if raw {
					fmt.Fprintf(stdout, "%s\n", b)
					continue
				}
				u, ok := asUserLeg(b)
				if !ok {
					fmt.Fprintf(stdout, "undecodable per-user message: %s\n", b)
					continue
				}
				fmt.Fprintln(stdout, formatUserLeg(u))
			}
			return nil
		},
	}
	addConfigFlags(c.Flags(), "config")
	c.Flags().StringVar(&server, "server", "", "NATS URL(s), comma-separated (default: nats.urls, else the embedded server's address)")
	c.Flags().IntVar(&last, "last", 20, "how many calls, the newest")
	c.Flags().StringVar(&outcome, "outcome", "", "only this outcome: answered, answered_elsewhere, missed or busy")
	c.Flags().BoolVar(&raw, "json", false, "print each message's JSON body")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up reading the stream after this long")
	return c
}

// lastMessages reads, with an ephemeral ordered consumer, the messages of
// stream on filter and returns the bodies of the last n, oldest first.
// The server filters by subject; the client keeps the last n of what it
// reads.
func lastMessages(ctx context.Context, nc *nats.Conn, stream, filter string, n int) ([][]byte, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %q (the per-user messages are kept with nats.jetstream: true): %w", stream, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("consumer on %s: %w", filter, err)
	}
	pending := cons.CachedInfo().NumPending
	out := make([][]byte, 0, min(pending, uint64(n)))
	for pending > 0 {
		wait := time.Second
		if d, ok := ctx.Deadline(); ok {
			wait = max(time.Until(d), time.Millisecond)
		}
		batch, err := cons.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(wait))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filter, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if len(out) == n {
				out = slices.Delete(out, 0, 1)
			}
			out = append(out, m.Data())
			if meta, err := m.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read %s: %w", filter, err)
		}
		if got == 0 {
			return nil, fmt.Errorf("read %s: no message within %s, %d still pending", filter, wait, pending)
		}
	}
	return out, nil
}

// asUserLeg decodes a per-user message; false for anything else (a status).
func asUserLeg(body []byte) (mapping.UserLeg, bool) {
	var u mapping.UserLeg
	if err := json.Unmarshal(body, &u); err != nil || u.Extension == "" || u.Outcome == "" {
		return mapping.UserLeg{}, false
	}
	return u, true
}

// formatUserLeg is one readable line: time it rang (else the call's end),
// outcome, direction, from → to, queue, ring seconds, call id; the first
// columns padded so lines read as a table.
func formatUserLeg(u mapping.UserLeg) string {
	when := u.End
	if u.RingStart != nil {
		when = *u.RingStart
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-18s %-8s %s → %s", when.Local().Format("2006-01-02 15:04:05"), u.Outcome, u.Direction, party(u.From), party(u.To))
	if u.Queue != "" {
		fmt.Fprintf(&b, " queue=%s", u.Queue)
	}
	fmt.Fprintf(&b, " ring=%.0fs user=%s call=%s", u.RingSeconds, u.Extension, u.CallID)
	return b.String()
}
