package publish

import (
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Stats are the publisher's counters; /metrics reads them.
type Stats struct {
	Published atomic.Uint64 // statuses acknowledged by NATS
	Retries   atomic.Uint64 // failed publish attempts that were retried

	LedgerErrors atomic.Uint64 // ledger writes that failed (the status was published all the same)
}

// Probe reports the client connection's own state, for /readyz.
func Probe(nc *nats.Conn) func() (bool, string) {
	return func() (bool, string) {
		st := nc.Status()
		if st == nats.CONNECTED {
			return true, connectedURL(nc)
		}
		return false, strings.ToLower(st.String())
	}
}

// connectedURL names the server nc is connected to; an in-process
// connection to an embedded server without a TCP port says so (nats.go
// would report its default URL).
func connectedURL(nc *nats.Conn) string {
	if nc.Opts.InProcessServer != nil && len(nc.Opts.Servers) == 0 {
		return "in-process (embedded server, no TCP port)"
	}
	return nc.ConnectedUrlRedacted()
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
