package adapter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/callstatus/callstatus/publish"

	"github.com/callstatus/callstatus/internal/testkit"
)

// bufferLog logs everything (debug) to a buffer, and to stderr with -v.
func bufferLog(t *testing.T) (*slog.Logger, *testkit.Buffer) {
	buf := &testkit.Buffer{}
	var w io.Writer = buf
	if testing.Verbose() {
		w = teeWriter{buf, os.Stderr}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

type teeWriter struct {
	a *testkit.Buffer
	b io.Writer
}

func (w teeWriter) Write(p []byte) (int, error) { w.b.Write(p); return w.a.Write(p) }

// startSecureNATS runs a JetStream server whose options edit shapes
// (TLS, users, operator mode).
func startSecureNATS(t *testing.T, edit func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, JetStream: true, StoreDir: t.TempDir()}
	edit(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return s
}

// natsAuthCase is a server that requires some credential, the client
// settings that satisfy it, settings that must be refused, and the
// secrets that must never reach the log.
type natsAuthCase struct {
	server  func(*server.Options)
	good    func(*publish.NATSConfig)
	bad     func(*publish.NATSConfig)
	refused string // in the error of a refused connect
	secrets []string
}

func writeSecret(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mutual TLS: the server presents a certificate of a test CA and
// requires a client certificate of the same CA.
func tlsCase(t *testing.T) natsAuthCase {
	pki := newTestPKI(t)
	srvCert, srvKey := pki.issue(t, "nats-server", true)
	cliCert, cliKey := pki.issue(t, "callstatusd", false)
	other := newTestPKI(t)
	strangerCert, strangerKey := other.issue(t, "stranger", false)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: pki.CAFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	return natsAuthCase{
		server: func(o *server.Options) { o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, true, tc, 2 },
		good: func(c *publish.NATSConfig) {
			c.TLS = publish.TLSConfig{CAFile: pki.CAFile, CertFile: cliCert, KeyFile: cliKey}
		},
		bad: func(c *publish.NATSConfig) {
			c.TLS = publish.TLSConfig{CAFile: pki.CAFile, CertFile: strangerCert, KeyFile: strangerKey}
		},
		refused: "tls", // an alert or a closed connection, depending on timing
	}
}

func nkeyCase(t *testing.T) natsAuthCase {
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	stranger, _ := nkeys.CreateUser()
	sseed, _ := stranger.Seed()
	return natsAuthCase{
		server:  func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} },
		good:    func(c *publish.NATSConfig) { c.NKeyFile = writeSecret(t, "user.nk", seed) },
		bad:     func(c *publish.NATSConfig) { c.NKeyFile = writeSecret(t, "stranger.nk", sseed) },
		refused: "Authorization Violation",
		secrets: []string{string(seed), string(sseed)},
	}
}

func userCase(t *testing.T) natsAuthCase {
	return natsAuthCase{
		server: func(o *server.Options) {
			o.Users = []*server.User{{Username: "callstatusd", Password: "nats-pw-9f2c"}}
		},
		good: func(c *publish.NATSConfig) {
			c.User, c.PasswordFile = "callstatusd", writeSecret(t, "nats-password", []byte("nats-pw-9f2c\n"))
		},
		bad:     func(c *publish.NATSConfig) { c.User, c.Password = "callstatusd", "wrong-pw-77aa" },
		refused: "Authorization Violation",
		secrets: []string{"nats-pw-9f2c", "wrong-pw-77aa"},
	}
}

func tokenCase(t *testing.T) natsAuthCase {
	return natsAuthCase{
		server:  func(o *server.Options) { o.Authorization = "tok-31b7e" },
		good:    func(c *publish.NATSConfig) { c.Token = "tok-31b7e" },
		bad:     func(c *publish.NATSConfig) { c.TokenFile = writeSecret(t, "token", []byte("tok-wrong-55")) },
		refused: "Authorization Violation",
		secrets: []string{"tok-31b7e", "tok-wrong-55"},
	}
}

// Operator mode: the server trusts an operator; an account it signed
// (with JetStream enabled) issues the daemon's user; the daemon logs in
// with the .creds file (user JWT + seed). A user issued by an account the
// operator never signed is refused.
func credsCase(t *testing.T) natsAuthCase {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	must(err)
	opClaims, err := jwt.DecodeOperatorClaims(opJWT)
	must(err)

	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(op)
		must(err)
		return kp, pub, tok
	}
	_, sysPub, sysJWT := account(false)
	accKP, accPub, accJWT := account(true)
	resolver := &server.MemAccResolver{}
	must(resolver.Store(sysPub, sysJWT))
	must(resolver.Store(accPub, accJWT))

	creds := func(issuer nkeys.KeyPair) []byte {
		u, _ := nkeys.CreateUser()
		upub, _ := u.PublicKey()
		useed, _ := u.Seed()
		tok, err := jwt.NewUserClaims(upub).Encode(issuer)
		must(err)
		b, err := jwt.FormatUserConfig(tok, useed)
		must(err)
		return b
	}
	rogue, _ := nkeys.CreateAccount()
	good, bad := creds(accKP), creds(rogue)
	return natsAuthCase{
		server: func(o *server.Options) {
			o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
			o.AccountResolver = resolver
			o.SystemAccount = sysPub
		},
		good:    func(c *publish.NATSConfig) { c.CredentialsFile = writeSecret(t, "callstatusd.creds", good) },
		bad:     func(c *publish.NATSConfig) { c.CredentialsFile = writeSecret(t, "rogue.creds", bad) },
		refused: "Authorization Violation",
		secrets: []string{seedOf(t, good), seedOf(t, bad)},
	}
}

func seedOf(t *testing.T, creds []byte) string {
	kp, err := jwt.ParseDecoratedNKey(creds)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return string(seed)
}

// Each credential kind the daemon supports, against an embedded server
// that requires it: the wrong credential is refused, and the daemon with
// the right one publishes a call into the JetStream stream, never logging
// a secret.
func TestNATSAuthAndTLS(t *testing.T) {
	cases := map[string]func(*testing.T) natsAuthCase{
		"mutual TLS with a test CA":  tlsCase,
		"nkey seed file":             nkeyCase,
		"user and password_file":     userCase,
		"token":                      tokenCase,
		"creds file (operator mode)": credsCase,
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			tc := mk(t)
			srv := startSecureNATS(t, tc.server)
			url := srv.ClientURL()

			bad := publish.DefaultNATSConfig()
			tc.bad(&bad)
			opts, err := publish.ClientOptions(bad)
			if err != nil {
				t.Fatal(err)
			}
			if nc, err := nats.Connect(url, append(opts, nats.Timeout(2*time.Second))...); err == nil {
				nc.Close()
				t.Fatal("server accepted the wrong credential")
			} else if t.Logf("wrong credential refused: %v", err); !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("refused with %v, want %q", err, tc.refused)
			}

			pbx := startFakePBX(t, "callstatus", "s3cret")
			cfg := clusterDaemonConfig(t, []string{url}, 1, pbx.addr())
			tc.good(&cfg.NATS)
			log, buf := bufferLog(t)
			d, err := New(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			stop := runDaemon(t, d)
			waitAttached(t, pbx, 1)
			pbx.emit(amiInboundAnswered("1700000000.0", time.Now().UTC()))
			eventually(t, 10*time.Second, "status published", func() bool { return d.Stats().Publish.Published.Load() == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			// Read it back with the same credentials.
			opts, err = publish.ClientOptions(cfg.NATS)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(url, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			st, err := js.Stream(t.Context(), "CALLSTATUS")
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.GetLastMsgForSubject(t.Context(), "callstatus.*.*.*")
			if err != nil || m.Header.Get(jetstream.MsgIDHeader) != "lab:1700000000.0" {
				t.Fatalf("the stream's status: %v %v", m, err)
			}
			for _, s := range tc.secrets {
				if strings.Contains(buf.String(), s) {
					t.Errorf("log contains secret %q", s)
				}
			}
		})
	}
}

// runDaemon runs d until the test ends; stop cancels it and returns Run's
// error.
func runDaemon(t *testing.T, d *Daemon) (stop func() error) {
	t.Helper()
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				err = fmt.Errorf("daemon did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// A credential refused at start (the broker's account not yet set up) is
// retried for ever: once the server accepts it, the queued status goes
// out. nats.go alone would have closed the connection after the second
// identical auth error.
func TestNATSAuthFixedOnServerLater(t *testing.T) {
	store := t.TempDir()
	opts := func(pw string, port int) *server.Options {
		return &server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, JetStream: true, StoreDir: store,
			Users: []*server.User{{Username: "callstatusd", Password: pw}}}
	}
	srv := startSecureNATS(t, func(o *server.Options) { *o = *opts("old-pw", -1) })
	pbx := startFakePBX(t, "callstatus", "s3cret")
	cfg := clusterDaemonConfig(t, []string{srv.ClientURL()}, 1, pbx.addr())
	cfg.NATS.User, cfg.NATS.Password = "callstatusd", "new-pw"
	log, buf := bufferLog(t)
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := runDaemon(t, d)
	waitAttached(t, pbx, 1)
	pbx.emit(amiInboundAnswered("1700000001.0", time.Now().UTC()))
	eventually(t, 10*time.Second, "refusal logged and publish retried", func() bool {
		return strings.Contains(buf.String(), "Authorization Violation") && d.Stats().Publish.Retries.Load() > 0
	})
	time.Sleep(2500 * time.Millisecond) // two more refused attempts (1 s apart): past nats.go's "same auth error twice"
	if err := srv.ReloadOptions(opts("new-pw", srv.Addr().(*net.TCPAddr).Port)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "status published after the server accepted", func() bool { return d.Stats().Publish.Published.Load() == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
