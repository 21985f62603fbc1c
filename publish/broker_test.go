package publish

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/internal/testkit"
)

// /readyz and the log name the broker the daemon really uses: the port the
// embedded server took (not nats.go's default nats://127.0.0.1:4222), or
// in-process when it has no TCP port.
func TestEmbeddedConnectionNamesItsBroker(t *testing.T) {
	tests := map[string]struct {
		listen bool
		want   func(e *Embedded) string
	}{
		"listening on a random port": {
			listen: true,
			want: func(e *Embedded) string {
				return "nats://127.0.0.1:" + strconv.Itoa(e.Server.Addr().(*net.TCPAddr).Port)
			},
		},
		"in-process only": {
			listen: false,
			want:   func(*Embedded) string { return "in-process (embedded server, no TCP port)" },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: -1, Listen: tc.listen, StoreDir: t.TempDir()}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Shutdown)
			var logs testkit.Buffer
			connected := make(chan struct{})
			log := slog.New(slog.NewTextHandler(&logs, nil))
			c := DefaultNATSConfig()
			nc, err := e.Connect(c, slog.New(notify{log.Handler(), "nats connected", connected}))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			<-connected
			want := tc.want(e)
			if strings.Contains(want, ":4222") {
				t.Fatalf("the random port was 4222; the test proves nothing")
			}
			if ok, detail := Probe(nc)(); !ok || detail != want {
				t.Errorf("probe = %v %q, want true %q", ok, detail, want)
			}
			if !strings.Contains(logs.String(), `msg="nats connected" component=nats url="`+want+`"`) &&
				!strings.Contains(logs.String(), `msg="nats connected" component=nats url=`+want+"\n") {
				t.Errorf("log does not name %s:\n%s", want, logs.String())
			}
		})
	}
}

// notify closes ch when a record with message msg has been written.
type notify struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (n notify) Handle(ctx context.Context, r slog.Record) error {
	err := n.Handler.Handle(ctx, r)
	if r.Message == n.msg {
		select {
		case <-n.ch:
		default:
			close(n.ch)
		}
	}
	return err
}

func (n notify) WithAttrs(a []slog.Attr) slog.Handler {
	return notify{n.Handler.WithAttrs(a), n.msg, n.ch}
}

func (n notify) WithGroup(g string) slog.Handler { return notify{n.Handler.WithGroup(g), n.msg, n.ch} }
