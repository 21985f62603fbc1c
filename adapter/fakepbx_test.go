package adapter

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/ami"
)

// fakePBX is a loopback AMI server that broadcasts: every connection that
// logs in with events on receives what emit sends from then on, as several
// daemons attached to one Asterisk would. Each subscriber may lag behind
// the others by a fixed delay (lags[i] for the i-th events login), to model
// two daemons that see the same events at different times.
type fakePBX struct {
	*amiServer
	user, secret string
	lags         []time.Duration

	mu        sync.Mutex
	subs      []chan stamped
	logins    int
	snapshots int
}

type stamped struct {
	at   time.Time
	text string
}

func startFakePBX(t *testing.T, user, secret string, lags ...time.Duration) *fakePBX {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFakePBX(t, ln, user, secret, lags...)
}

// startFakePBXTLS is startFakePBX behind TLS (manager.conf tlsenable).
func startFakePBXTLS(t *testing.T, cfg *tls.Config, user, secret string) *fakePBX {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveFakePBX(t, tls.NewListener(ln, cfg), user, secret)
}

func serveFakePBX(t *testing.T, ln net.Listener, user, secret string, lags ...time.Duration) *fakePBX {
	p := &fakePBX{user: user, secret: secret, lags: lags}
	p.amiServer = serveAMI(t, ln, p.serve)
	t.Cleanup(func() { // before the server's cleanup: ends the writers
		p.mu.Lock()
		for _, s := range p.subs {
			close(s)
		}
		p.subs = nil
		p.mu.Unlock()
	})
	return p
}

// lockedWriter lets a subscriber's writer goroutine and the action answers
// share one connection.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// emit sends text to every subscriber (each after its lag).
func (p *fakePBX) emit(text string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.subs {
		s <- stamped{now, text}
	}
}

// counts reports the events logins and CoreShowChannels actions so far.
func (p *fakePBX) counts() (logins, snapshots int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins, p.snapshots
}

func (p *fakePBX) serve(srv *amiServer, conn net.Conn) {
	defer conn.Close()
	io.WriteString(conn, amiBanner)
	rd := ami.NewReader(conn)
	var wmu sync.Mutex
	lw := lockedWriter{&wmu, conn}
	write := func(format string, args ...any) { fmt.Fprintf(lw, format, args...) }
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			ok := a.Get("Username") == p.user && a.Get("Secret") == p.secret
			replyLogin(lw, id, ok)
			if !ok {
				return
			}
			if a.Get("Events") == "off" {
				continue
			}
			ch := make(chan stamped, 100000)
			p.mu.Lock()
			lag := time.Duration(0)
			if p.logins < len(p.lags) {
				lag = p.lags[p.logins]
			}
			p.logins++
			p.subs = append(p.subs, ch)
			p.mu.Unlock()
			srv.spawn(func() {
				for s := range ch {
					time.Sleep(time.Until(s.at.Add(lag)))
					wmu.Lock()
					_, err := io.WriteString(conn, s.text)
					wmu.Unlock()
					if err != nil {
						for range ch { // keep emit from blocking
						}
						return
					}
				}
			})
		case "CoreShowChannels":
			p.mu.Lock()
			p.snapshots++
			p.mu.Unlock()
			replyNoChannels(lw, id)
		case "Logoff":
			write("Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", id)
			return
		default:
			write("Response: Error\r\nActionID: %s\r\nMessage: Invalid/unknown command\r\n\r\n", id)
		}
	}
}
