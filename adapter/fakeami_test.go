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
	user, secret string
	ln           net.Listener

	mu      sync.Mutex
	streams []string
	logins  int
	conns   []net.Conn
	done    chan struct{}
}

func startFakeAMI(t *testing.T, user, secret string, streams ...string) *fakeAMI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAMI{user: user, secret: secret, ln: ln, streams: streams, done: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
		f.dropAll()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, conn)
			f.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); f.serve(conn) }()
		}
	}()
	return f
}

func (f *fakeAMI) addr() string { return f.ln.Addr().String() }

// dropAll closes every open connection, as an Asterisk restart would.
func (f *fakeAMI) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// push queues a stream for the next events login.
func (f *fakeAMI) push(stream string) {
	f.mu.Lock()
	f.streams = append(f.streams, stream)
	f.mu.Unlock()
}

func (f *fakeAMI) serve(conn net.Conn) {
	defer conn.Close()
	fmt.Fprintf(conn, "Asterisk Call Manager/9.0.0\r\n")
	rd := ami.NewReader(conn)
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			if a.Get("Username") != f.user || a.Get("Secret") != f.secret {
				fmt.Fprintf(conn, "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id)
				return
			}
			fmt.Fprintf(conn, "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id)
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
			fmt.Fprintf(conn, "Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n", id)
			fmt.Fprintf(conn, "Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: 0\r\n\r\n", id)
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
