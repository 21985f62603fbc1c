package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"
)

func tailCmd(stdout io.Writer) *cobra.Command {
	var server, subject string
	var raw bool
	c := &cobra.Command{
		Use:   "tail [--config FILE] [--server URL] [--subject callstatus.*.*.*] [--json]",
		Short: "Print call statuses as they are published",
		Long: `Print call statuses as they are published. The server is --server, else the
config's nats.urls, else the address of the daemon's embedded server
(nats.embedded.host and nats.embedded.port); tail says which one it uses. The
credentials and TLS files are the config's nats.* settings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := loadLayers(cmd.Flags(), os.Environ())
			if err := errors.Join(l.errs...); err != nil {
				return err
			}
			if subject == "" {
				subject = publish.StatusSubjects(l.cfg.NATS.SubjectPrefix)
			}
			// Started before the daemon (or while it restarts), tail
			// waits for the server instead of failing.
			nc, err := dialNATS(cmd.ErrOrStderr(), "tail", subject, server, l, true)
			if err != nil {
				return err
			}
			defer nc.Close()
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
	addConfigFlags(c.Flags(), "config")
	c.Flags().StringVar(&server, "server", "", "NATS URL(s), comma-separated (default: nats.urls, else the embedded server's address)")
	c.Flags().StringVar(&subject, "subject", "", "subject to follow (default <nats.subject_prefix>.*.*.*, the statuses; <nats.subject_prefix>.*.user.> the per-user messages)")
	c.Flags().BoolVar(&raw, "json", false, "print each status as raw JSON")
	return c
}

// dialNATS connects command name (tail, recents) to the server natsServer
// names, with the config's credentials and TLS, and says on stderr what
// it reads (what) from where. With wait it waits for a server that is not
// up yet (and reconnects for ever); without, it fails at once.
func dialNATS(stderr io.Writer, name, what, serverFlag string, l loaded, wait bool) (*nats.Conn, error) {
	opts, err := publish.ClientOptions(l.cfg.NATS)
	if err != nil {
		return nil, err
	}
	url, from, err := natsServer(name, serverFlag, l)
	if err != nil {
		return nil, err
	}
	shown := publish.RedactURLs(strings.Split(url, ","))
	fmt.Fprintf(stderr, "%s: %s on %s (%s)\n", name, what, shown, from)
	opts = append(opts, nats.Name("callstatusd "+name))
	if wait {
		opts = append(opts, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to %s: %w", name, shown, err)
	}
	if !nc.IsConnected() {
		fmt.Fprintf(stderr, "%s: waiting for NATS at %s…\n", name, shown)
	}
	return nc, nil
}

// natsServer is the one server command name (tail, recents) connects to,
// and why: --server, else nats.urls, else the embedded server's address.
// It refuses to guess an address the daemon does not listen on.
func natsServer(name, flag string, l loaded) (url, from string, err error) {
	if flag != "" {
		return flag, "--server", nil
	}
	n := l.cfg.NATS
	origin := func(keys ...string) string {
		var parts []string
		for _, k := range keys {
			if w, ok := l.where[k]; ok {
				parts = append(parts, k+" from "+w)
			} else {
				parts = append(parts, k+" default")
			}
		}
		return strings.Join(parts, ", ")
	}
	if len(n.URLs) > 0 {
		return strings.Join(n.URLs, ","), origin("nats.urls"), nil
	}
	e := n.Embedded
	switch {
	case !e.Listen:
		return "", "", fmt.Errorf("%s: the embedded NATS server does not listen (nats.embedded.listen is false): name a server with --server", name)
	case e.Port == -1:
		return "", "", fmt.Errorf("%s: the embedded NATS server takes a random port (nats.embedded.port is -1): name it with --server (the daemon logs it: \"embedded nats server ready\")", name)
	}
	port := e.Port
	if port == 0 {
		port = server.DEFAULT_PORT // what the embedded server takes for 0
	}
	host := e.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: reach it on loopback
	}
	return fmt.Sprintf("nats://%s", net.JoinHostPort(host, strconv.Itoa(port))),
		"the embedded server's address: " + origin("nats.embedded.host", "nats.embedded.port"), nil
}

// formatStatus is one readable line: time, category/status, reason,
// from → to, agent, queue, ring/wait/talk seconds, call id. The first
// columns are padded so a stream of lines reads as a table.
func formatStatus(m *nats.Msg) string {
	if u, ok := asUserLeg(m.Data); ok { // --subject callstatus.> gets them too
		return formatUserLeg(u)
	}
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
