package publish

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is the in-process NATS server the daemon runs when no external
// server is configured.
type Embedded struct {
	Server *server.Server
	log    *slog.Logger
}

// StartEmbedded starts a NATS server with JetStream in this process and
// waits until it accepts clients. dataDir holds the JetStream store unless
// cfg.StoreDir says otherwise.
func StartEmbedded(cfg EmbeddedConfig, dataDir string, log *slog.Logger) (*Embedded, error) {
	log = orDiscard(log).With("component", "nats-server")
	store := cfg.StoreDir
	if store == "" {
		store = filepath.Join(dataDir, "nats")
	}
	opts := &server.Options{
		ServerName:      cfg.ServerName,
		Host:            cfg.Host,
		Port:            cfg.Port,
		DontListen:      !cfg.Listen,
		JetStream:       true,
		JetStreamDomain: cfg.JetStreamDomain,
		StoreDir:        store,
		NoSigs:          true,
		NoLog:           false,
	}
	if cfg.Port == 0 {
		opts.Port = server.DEFAULT_PORT
	}
	if cfg.Listen && opts.Port > 0 {
		// nats-server only logs a busy port and never becomes ready;
		// say so at once instead of after the readiness timeout.
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(opts.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("nats-server: nats.embedded.port: %w (another NATS server? set nats.urls to use it)", err)
		}
		l.Close()
	}
	if cfg.LeafNode.URL != "" {
		u, err := url.Parse(cfg.LeafNode.URL)
		if err != nil {
			return nil, fmt.Errorf("nats-server: nats.embedded.leafnode.url %q: %w", cfg.LeafNode.URL, err)
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{{
			URLs:        []*url.URL{u},
			Credentials: cfg.LeafNode.CredentialsFile,
		}}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server: configure: %w", err)
	}
	ns.SetLoggerV2(ServerLogger{Log: log}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats-server: not ready after 10s (port %d, store %s)", cfg.Port, store)
	}
	e := &Embedded{Server: ns, log: log}
	if cfg.Listen {
		log.Info("embedded nats server ready", "url", ns.ClientURL(), "store", store)
	} else {
		log.Info("embedded nats server ready (in-process only)", "store", store)
	}
	return e, nil
}

// Connect opens an in-process client connection (no TCP).
func (e *Embedded) Connect(c NATSConfig, log *slog.Logger) (*nats.Conn, error) {
	log = orDiscard(log).With("component", "nats")
	opts, err := connOptions(c, log)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.InProcessServer(e.Server))
	// The URL only names the connection (it is in-process either way), in
	// logs and /readyz: the port the server really listens on, not
	// nats.go's default nats://127.0.0.1:4222.
	nc, err := nats.Connect(e.URL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect in-process: %w", err)
	}
	return nc, nil
}

// URL is where clients reach the server (the port it really took, with
// port -1 too), or "" when it does not listen on TCP.
func (e *Embedded) URL() string {
	if e.Server.Addr() == nil {
		return ""
	}
	return e.Server.ClientURL()
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
	e.log.Info("embedded nats server stopped")
}

// ServerLogger sends nats-server's log to slog (server.SetLoggerV2).
type ServerLogger struct{ Log *slog.Logger }

func (l ServerLogger) Noticef(format string, v ...any) { l.Log.Debug(fmt.Sprintf(format, v...)) }
func (l ServerLogger) Warnf(format string, v ...any)   { l.Log.Warn(fmt.Sprintf(format, v...)) }
func (l ServerLogger) Fatalf(format string, v ...any)  { l.Log.Error(fmt.Sprintf(format, v...)) }
func (l ServerLogger) Errorf(format string, v ...any)  { l.Log.Error(fmt.Sprintf(format, v...)) }
func (l ServerLogger) Debugf(format string, v ...any)  { l.Log.Debug(fmt.Sprintf(format, v...)) }
func (l ServerLogger) Tracef(format string, v ...any)  { l.Log.Debug(fmt.Sprintf(format, v...)) }
