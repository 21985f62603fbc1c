package ami

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// fakeAMI is a loopback AMI server: it greets, answers Login,
// CoreShowChannels and Logoff, and after a successful login with events on
// it writes stream, then closes (or holds the connection when hold is set).
type fakeAMI struct {
	tls          *tls.Config // serve TLS when set
	user, secret string
	banner       string // default "Asterisk Call Manager/9.0.0"
	stream       string
	channels     []string // CoreShowChannel channel blocks
	hold         chan struct{}
	// answer: after the stream keep answering actions (as Asterisk does)
	// instead of going silent.
	answer bool

	mu      sync.Mutex
	actions []Frame
}

func (f *fakeAMI) serve(t *testing.T, conn net.Conn) {
	defer conn.Close()
	banner := f.banner
	if banner == "" {
		banner = "Asterisk Call Manager/9.0.0"
	}
	fmt.Fprintf(conn, "%s\r\n", banner)
	rd := NewReader(conn)
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.actions = append(f.actions, a)
		f.mu.Unlock()
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			if a.Get("Username") != f.user || a.Get("Secret") != f.secret {
				fmt.Fprintf(conn, "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id)
				return
			}
			fmt.Fprintf(conn, "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id)
			if a.Get("Events") != "off" {
				io.WriteString(conn, f.stream)
				if f.answer {
					continue
				}
				if f.hold == nil {
					return
				}
				<-f.hold
				return
			}
		case "CoreShowChannels":
			fmt.Fprintf(conn, "Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n", id)
			for _, c := range f.channels {
				fmt.Fprintf(conn, "Event: CoreShowChannel\r\nActionID: %s\r\n%sApplication: Dial\r\nApplicationData: PJSIP/100\r\nDuration: 00:00:07\r\nBridgeId: \r\n\r\n", id, c)
			}
			fmt.Fprintf(conn, "Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: %d\r\n\r\n", id, len(f.channels))
		case "Logoff":
			fmt.Fprintf(conn, "Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", id)
			return
		default:
			fmt.Fprintf(conn, "Response: Error\r\nActionID: %s\r\nMessage: Invalid/unknown command\r\n\r\n", id)
		}
	}
}

// startAMI serves f on 127.0.0.1 and returns a Config that logs in.
func startAMI(t *testing.T, f *fakeAMI) Config {
	t.Helper()
	if f.user == "" {
		f.user, f.secret = "callstatus", "s3cr%t!"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if f.tls != nil {
		ln = tls.NewListener(ln, f.tls)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); f.serve(t, conn) }()
		}
	}()
	return Config{Address: ln.Addr().String(), Username: f.user, Password: f.secret, DialTimeout: 2 * time.Second}
}

func TestSourceStream(t *testing.T) {
	stream := "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 5\r\nLastReload: 5\r\nStatus: Fully Booted\r\n\r\n" +
		string(GenStream(2)) +
		"Event: Cdr\r\nPrivilege: cdr,all\r\nUniqueID: 1.1\r\nDisposition: ANSWERED\r\n\r\n" +
		"Event: Newstate\r\nnot a header\r\nUniqueid: 9.9\r\nChannelStateDesc: Up\r\n\r\n\n"
	cfg := startAMI(t, &fakeAMI{stream: stream})
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []mapping.Event
	var err error
	for {
		var ev mapping.Event
		ev, err = s.Next(t.Context())
		if err != nil {
			break
		}
		got = append(got, ev)
	}
	if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "connection closed by Asterisk") {
		t.Errorf("final error = %v, want a wrapped EOF", err)
	}
	if want := 2*framesPerCall + 1; len(got) != want {
		t.Fatalf("got %d events, want %d", len(got), want)
	}
	// Seq numbers frames on the connection: 1 is the login response, 2 FullyBooted.
	first := got[0]
	if first.Kind != mapping.ChannelCreated || first.Chan.UniqueID != "1732550000.1" || first.Seq != 3 ||
		!first.Time.Equal(time.Unix(1732550000, 100001000)) {
		t.Errorf("first event = %+v", first)
	}
	last := got[len(got)-1]
	if last.Kind != mapping.ChannelState || last.Chan.UniqueID != "9.9" || last.Time.IsZero() {
		t.Errorf("last event = %+v (a frame without Timestamp gets the receive time)", last)
	}
	st := s.Stats()
	if st.Frames != uint64(2*framesPerCall+3) || st.Events != uint64(len(got)) || st.Skipped != 2 || st.Malformed != 1 {
		t.Errorf("stats = %+v", st)
	}
	if st.ByEvent["Hangup"] != 2 || st.SkippedByEvent["Cdr"] != 1 || st.SkippedByEvent["FullyBooted"] != 1 {
		t.Errorf("by event = %v, skipped by event = %v", st.ByEvent, st.SkippedByEvent)
	}
	if st.LastLag <= 0 {
		t.Errorf("LastLag = %v, want > 0 for 2024 timestamps", st.LastLag)
	}
}

func TestSourceConnectErrors(t *testing.T) {
	tests := map[string]struct {
		fake    *fakeAMI
		edit    func(*Config)
		wantIs  error
		wantMsg string
	}{
		"wrong password is ErrAuth": {
			edit:    func(c *Config) { c.Password = "nope%d" },
			wantIs:  ErrAuth,
			wantMsg: `ami: login as "callstatus" at ADDR: authentication failed`,
		},
		"unknown user is ErrAuth": {
			edit:    func(c *Config) { c.Username = "mallory" },
			wantIs:  ErrAuth,
			wantMsg: `ami: login as "mallory" at ADDR: authentication failed`,
		},
		"not an AMI server": {
			fake:    &fakeAMI{banner: "SSH-2.0-OpenSSH_9.6"},
			wantMsg: `ami: connect at ADDR: ami: read banner: want "Asterisk Call Manager/"..., got "SSH-2.0-OpenSSH_9.6"`,
		},
		"invalid config": {
			edit:    func(c *Config) { c.Address = "asterisk" },
			wantMsg: `ami.address must be host:port, got "asterisk"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := tc.fake
			if f == nil {
				f = &fakeAMI{}
			}
			cfg := startAMI(t, f)
			addr := cfg.Address
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			err := NewSource(cfg, nil).Connect(t.Context())
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if msg := strings.ReplaceAll(err.Error(), addr, "ADDR"); msg != tc.wantMsg {
				t.Errorf("error text\n got %q\nwant %q", msg, tc.wantMsg)
			}
			if strings.Contains(err.Error(), cfg.Password) {
				t.Errorf("error contains the password: %v", err)
			}
			var acct interface{ Account() string }
			if tc.wantIs == ErrAuth && (!errors.As(err, &acct) || acct.Account() != cfg.Username) {
				t.Errorf("error %v does not name the account", err)
			}
		})
	}
}

func TestSourceSendsSecretVerbatim(t *testing.T) {
	f := &fakeAMI{user: "u", secret: "100%s%d\\x"}
	cfg := startAMI(t, f)
	cfg.Events = "call,agent"
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatalf("Connect with a %%-secret: %v", err)
	}
	s.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.actions) == 0 || f.actions[0].Get("Events") != "call,agent" {
		t.Fatalf("login action = %+v", f.actions)
	}
}

func TestSourceMidFrameDisconnect(t *testing.T) {
	cfg := startAMI(t, &fakeAMI{stream: "Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n"})
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ev, err := s.Next(t.Context()); err != nil || ev.Chan.UniqueID != "1.1" {
		t.Fatalf("first Next = %+v, %v", ev, err)
	}
	ev, err := s.Next(t.Context())
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "mid-frame") {
		t.Fatalf("second Next = %+v, %v; want a mid-frame error", ev, err)
	}
}

func TestSourceNextHonoursContext(t *testing.T) {
	f := &fakeAMI{hold: make(chan struct{})}
	defer close(f.hold)
	cfg := startAMI(t, f)
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Next took %v after its context ended", d)
	}
}

func TestSourceCloseUnblocksNext(t *testing.T) {
	f := &fakeAMI{hold: make(chan struct{})}
	defer close(f.hold)
	s := NewSource(startAMI(t, f), nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Next(t.Context()); done <- err }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Next returned no error after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
	if _, err := s.Next(t.Context()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Next after Close = %v, want ErrNotConnected", err)
	}
}

func TestSourceSnapshot(t *testing.T) {
	f := &fakeAMI{channels: []string{trunk("", "Up"), agent("", "Up")}}
	s := NewSource(startAMI(t, f), nil)
	evs, err := s.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2: %+v", len(evs), evs)
	}
	for i, want := range []mapping.Channel{trunkChan("Up"), agentChan("Up")} {
		ev := evs[i]
		if ev.Kind != mapping.ChannelSnapshot || ev.Source != mapping.SourceSnapshot || ev.Time.IsZero() ||
			ev.Chan != want || ev.Name != "Dial" || ev.Value != "PJSIP/100" {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, a := range f.actions {
		names = append(names, a.Get("Action")+"/"+a.Get("Events"))
	}
	if got := strings.Join(names, " "); got != "Login/off CoreShowChannels/ Logoff/" {
		t.Errorf("actions = %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Address: "pbx:5038", Username: "u", Password: "p"}
	tests := map[string]struct {
		edit func(*Config)
		want string
	}{
		"good":               {edit: func(*Config) {}},
		"no port":            {edit: func(c *Config) { c.Address = "asterisk" }, want: `ami.address must be host:port, got "asterisk"`},
		"empty address":      {edit: func(c *Config) { c.Address = "" }, want: `ami.address must be host:port, got ""`},
		"bad port":           {edit: func(c *Config) { c.Address = "pbx:http" }, want: `ami.address port must be 1-65535, got "http"`},
		"no username":        {edit: func(c *Config) { c.Username = "" }, want: "ami.username must be set"},
		"no password":        {edit: func(c *Config) { c.Password = "" }, want: "ami.password must be set"},
		"newline in secret":  {edit: func(c *Config) { c.Password = "a\r\nAction: Originate" }, want: "ami.password must not contain line breaks"},
		"negative timeout":   {edit: func(c *Config) { c.DialTimeout = -time.Second }, want: "ami.dial_timeout must not be negative, got -1s"},
		"event classes":      {edit: func(c *Config) { c.Events = "call, agent,dialplan,user" }},
		"unknown event mask": {edit: func(c *Config) { c.Events = "calls" }, want: `ami.events must be on, off or a comma list of event classes, got "calls"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and a client config
// that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}

func TestSourceTLS(t *testing.T) {
	srv, cli := selfSigned(t)
	cfg := startAMI(t, &fakeAMI{tls: srv, stream: "Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n"})
	cfg.TLS = cli
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Next(t.Context())
	if err != nil || ev.Kind != mapping.ChannelHangup || ev.Cause != 16 {
		t.Fatalf("Next = %+v, %v", ev, err)
	}

	// A client that does not trust the certificate fails at connect.
	cfg.TLS = &tls.Config{}
	err = NewSource(cfg, nil).Connect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "ami: dial "+cfg.Address) {
		t.Fatalf("Connect with an untrusted certificate = %v", err)
	}
}

// A manager session that goes silent (frozen Asterisk, a forgotten NAT
// flow) is dropped by the keepalive; one that answers its pings is kept,
// however idle the PBX.
func TestSourceKeepalive(t *testing.T) {
	tests := map[string]struct {
		f        *fakeAMI
		wantDrop bool
	}{
		"silent session is dropped":  {f: &fakeAMI{hold: make(chan struct{})}, wantDrop: true},
		"idle but answering is kept": {f: &fakeAMI{answer: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.f.hold != nil {
				defer close(tc.f.hold)
			}
			s := NewSource(startAMI(t, tc.f), nil)
			s.pingEvery = 40 * time.Millisecond
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			done := make(chan error, 1)
			go func() { _, err := s.Next(t.Context()); done <- err }()
			select {
			case err := <-done:
				if !tc.wantDrop {
					t.Fatalf("Next failed on a live session: %v", err)
				}
			case <-time.After(500 * time.Millisecond):
				if tc.wantDrop {
					t.Fatal("silent session still open after 12 ping intervals")
				}
			}
		})
	}
}
