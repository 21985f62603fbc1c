package adapter

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/callstatus/callstatus/ami"
)

// fakeAMI is a loopback AMI server: it greets, answers Login,
// CoreShowChannels (no channels) and Logoff, and after a login with events
// on writes the next stream from streams and holds the connection open
// until the test ends (or drops it when the stream list is exhausted and
// drop is set).
type fakeAMI struct {
	*amiServer
	user, secret string

	mu      sync.Mutex
	streams []string
	logins  int
}

func startFakeAMI(t *testing.T, user, secret string, streams ...string) *fakeAMI {
	t.Helper()
	f := &fakeAMI{user: user, secret: secret, streams: streams}
	f.amiServer = serveAMI(t, listenLoopback(t), func(_ *amiServer, conn net.Conn) { f.serve(conn) })
	return f
}

// dropAll closes every open connection, as an Asterisk restart would.
func (f *fakeAMI) dropAll() { f.drop() }

// push queues a stream for the next events login.
func (f *fakeAMI) push(stream string) {
	f.mu.Lock()
	f.streams = append(f.streams, stream)
	f.mu.Unlock()
}

func (f *fakeAMI) serve(conn net.Conn) {
	defer conn.Close()
	io.WriteString(conn, amiBanner)
	rd := ami.NewReader(conn)
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			ok := a.Get("Username") == f.user && a.Get("Secret") == f.secret
			replyLogin(conn, id, ok)
			if !ok {
				return
			}
			if a.Get("Events") == "off" {
				continue
			}
			f.mu.Lock()
			f.logins++
			stream := ""
			if len(f.streams) > 0 {
				stream, f.streams = f.streams[0], f.streams[1:]
			}
			f.mu.Unlock()
			io.WriteString(conn, stream)
			// Hold the connection; reads (none expected) keep the loop
			// alive until the test drops it.
		case "CoreShowChannels":
			replyNoChannels(conn, id)
		case "Logoff":
			fmt.Fprintf(conn, "Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", id)
			return
		default:
			fmt.Fprintf(conn, "Response: Error\r\nActionID: %s\r\nMessage: Invalid/unknown command\r\n\r\n", id)
		}
	}
}

func (f *fakeAMI) loginCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}
