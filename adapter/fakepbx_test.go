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
	user, secret string
	lags         []time.Duration
	ln           net.Listener

	mu        sync.Mutex
	subs      []chan stamped
	logins    int
	snapshots int
	conns     []net.Conn
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
	p := &fakePBX{user: user, secret: secret, lags: lags, ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		for _, s := range p.subs {
			close(s)
		}
		p.subs = nil
		p.mu.Unlock()
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
			p.mu.Lock()
			p.conns = append(p.conns, conn)
			p.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(conn, &wg) }()
		}
	}()
	return p
}

func (p *fakePBX) addr() string { return p.ln.Addr().String() }

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

func (p *fakePBX) serve(conn net.Conn, wg *sync.WaitGroup) {
	defer conn.Close()
	fmt.Fprintf(conn, "Asterisk Call Manager/9.0.0\r\n")
	rd := ami.NewReader(conn)
	var wmu sync.Mutex // the writer goroutine and action answers share conn
	write := func(format string, args ...any) {
		wmu.Lock()
		fmt.Fprintf(conn, format, args...)
		wmu.Unlock()
	}
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			if a.Get("Username") != p.user || a.Get("Secret") != p.secret {
				write("Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id)
				return
			}
			write("Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id)
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
			wg.Add(1)
			go func() {
				defer wg.Done()
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
			}()
		case "CoreShowChannels":
			p.mu.Lock()
			p.snapshots++
			p.mu.Unlock()
			write("Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n", id)
			write("Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: 0\r\n\r\n", id)
		case "Logoff":
			write("Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", id)
			return
		default:
			write("Response: Error\r\nActionID: %s\r\nMessage: Invalid/unknown command\r\n\r\n", id)
		}
	}
}
