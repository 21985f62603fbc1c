package adapter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
	"github.com/callstatus/callstatus/backfill"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
	"github.com/callstatus/callstatus/secret"
)

// Config is the whole daemon configuration. cmd/callstatusd fills it from
// file, environment and flags; everything else takes it as a value.
type Config struct {
	// DataDir holds state: the embedded NATS server's JetStream store.
	DataDir string    `mapstructure:"data_dir"`
	Log     LogConfig `mapstructure:"log"`
	// HTTP serves /healthz, /readyz and /metrics.
	HTTP ops.HTTPConfig `mapstructure:"http"`
	AMI  AMIConfig      `mapstructure:"ami"`
	ARI  ARIConfig      `mapstructure:"ari"`
	// Reconnect is the schedule for both sources.
	Reconnect ReconnectConfig `mapstructure:"reconnect"`
	Engine    EngineConfig    `mapstructure:"engine"`
	// Outbox is where final statuses wait for NATS.
	Outbox  outbox.Config      `mapstructure:"outbox"`
	Mapping mapping.Config     `mapstructure:"mapping"`
	NATS    publish.NATSConfig `mapstructure:"nats"`
	// Backfill reports the calls of every gap (daemon stopped, a source
	// down) from Asterisk's CEL and queue_log.
	Backfill backfill.Config `mapstructure:"backfill"`
}

// LogConfig is read by cmd/ to build the logger.
type LogConfig struct {
	// Level: debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format: text or json.
	Format string `mapstructure:"format"`
}

// AMIConfig switches the AMI source on and holds its settings; Source()
// turns it into the ami package's Config.
type AMIConfig struct {
	Enabled  bool   `mapstructure:"enabled"`
	Address  string `mapstructure:"address"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// PasswordFile holds the password instead (a mounted secret); one
	// trailing newline is ignored.
	PasswordFile string `mapstructure:"password_file"`
	// Events is the Login event mask: on, or a list of classes.
	Events      string        `mapstructure:"events"`
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	TLS         AMITLSConfig  `mapstructure:"tls"`
	// Snapshot lists the channels that exist at each (re)connect
	// (CoreShowChannels), so calls already in progress are tracked.
	Snapshot bool `mapstructure:"snapshot"`
}

// AMITLSConfig wraps AMI in TLS (manager.conf tlsenable, port 5039).
type AMITLSConfig struct {
	Enabled            bool   `mapstructure:"enabled"`
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	ServerName         string `mapstructure:"server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// Source builds the ami package's Config, loading TLS files.
func (c AMIConfig) Source() (ami.Config, error) {
	out := ami.Config{Address: c.Address, Username: c.Username, Password: c.Password, Events: c.Events, DialTimeout: c.DialTimeout}
	pw, err := secret.Read(c.Password, c.PasswordFile, "ami.password")
	if err != nil {
		return out, err
	}
	out.Password = pw
	if !c.TLS.Enabled {
		return out, nil
	}
	tc, err := c.TLS.config()
	if err != nil {
		return out, err
	}
	out.TLS = tc
	return out, nil
}

// config loads the TLS files; the error joins every problem.
func (t AMITLSConfig) config() (*tls.Config, error) {
	var errs []error
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		if pem, err := os.ReadFile(t.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("ami.tls.ca_file: %w", err))
		} else if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("ami.tls.ca_file: no PEM certificates in %s", t.CAFile))
		} else {
			tc.RootCAs = pool
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("ami.tls.cert_file and ami.tls.key_file go together"))
	} else if t.CertFile != "" {
		if cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("ami.tls.cert_file/key_file: %w", err))
		} else {
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	return tc, errors.Join(errs...)
}

// Validate checks the AMI settings through the ami package and reports
// every problem.
func (c AMIConfig) Validate() error {
	var errs []error
	pw, err := secret.Read(c.Password, c.PasswordFile, "ami.password")
	if err != nil {
		errs = append(errs, err)
		pw = "unread" // reported above, not also as missing
	}
	ac := ami.Config{Address: c.Address, Username: c.Username, Password: pw, Events: c.Events, DialTimeout: c.DialTimeout}
	errs = append(errs, ac.Validate())
	if c.TLS.Enabled {
		if _, err := c.TLS.config(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ARIConfig switches the ARI source on and holds its settings.
type ARIConfig struct {
	Enabled    bool `mapstructure:"enabled"`
	ari.Config `mapstructure:",squash"`
	// PasswordFile holds the password instead (a mounted secret).
	PasswordFile string `mapstructure:"password_file"`
	// Snapshot lists the channels that exist at each (re)connect, so calls
	// already in progress are tracked (as joined late).
	Snapshot bool `mapstructure:"snapshot"`
}

// Source builds the ari package's Config, reading ari.password_file.
func (c ARIConfig) Source() (ari.Config, error) {
	out := c.Config
	pw, err := secret.Read(c.Password, c.PasswordFile, "ari.password")
	if err != nil {
		return out, err
	}
	out.Password = pw
	return out, nil
}

// Validate checks the ARI settings through the ari package and reports
// every problem.
func (c ARIConfig) Validate() error {
	ac, err := c.Source()
	if err != nil {
		ac.Password = "unread" // reported, not also as missing
	}
	return errors.Join(err, ac.Validate())
}

// ReconnectConfig is the source reconnect backoff.
type ReconnectConfig struct {
	Initial time.Duration `mapstructure:"initial"`
	Max     time.Duration `mapstructure:"max"`
	// StableAfter: a connection that lasted this long resets the backoff.
	StableAfter time.Duration `mapstructure:"stable_after"`
}

// EngineConfig tunes the engine goroutine.
type EngineConfig struct {
	// SweepInterval is how often calls past their TTL or confirmation
	// grace are finalized.
	SweepInterval time.Duration `mapstructure:"sweep_interval"`
}

// DefaultConfig is AMI on localhost, the embedded NATS server and the
// mapping defaults.
func DefaultConfig() Config {
	r := DefaultRetry()
	return Config{
		DataDir:   "/var/lib/callstatusd",
		Log:       LogConfig{Level: "info", Format: "text"},
		AMI:       AMIConfig{Enabled: true, Address: "127.0.0.1:5038", Events: "on", DialTimeout: 10 * time.Second, Snapshot: true},
		ARI:       ARIConfig{Enabled: false, Config: ari.DefaultConfig(), Snapshot: true},
		Reconnect: ReconnectConfig{Initial: r.Initial, Max: r.Max, StableAfter: r.StableAfter},
		Engine:    EngineConfig{SweepInterval: time.Second},
		Outbox:    outbox.Config{Durable: true, Memory: 1024, StaleAfter: time.Minute},
		Backfill:  backfill.DefaultConfig(),
		Mapping:   mapping.DefaultConfig(),
		NATS:      publish.DefaultNATSConfig(),
	}
}

// Validate checks every section; each error names its key.
func (c Config) Validate() error {
	var errs []error
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format must be text or json, got %q", c.Log.Format))
	}
	if err := c.HTTP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !c.AMI.Enabled && !c.ARI.Enabled {
		errs = append(errs, errors.New("ami.enabled and ari.enabled are both false: enable at least one source"))
	}
	if c.AMI.Enabled {
		if err := c.AMI.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ARI.Enabled {
		if err := c.ARI.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Reconnect.Initial <= 0 {
		errs = append(errs, fmt.Errorf("reconnect.initial must be positive, got %s", c.Reconnect.Initial))
	}
	if c.Reconnect.Max < c.Reconnect.Initial {
		errs = append(errs, fmt.Errorf("reconnect.max (%s) must be at least reconnect.initial (%s)", c.Reconnect.Max, c.Reconnect.Initial))
	}
	if c.Reconnect.StableAfter < 0 {
		errs = append(errs, fmt.Errorf("reconnect.stable_after must not be negative, got %s", c.Reconnect.StableAfter))
	}
	if c.Engine.SweepInterval <= 0 {
		errs = append(errs, fmt.Errorf("engine.sweep_interval must be positive, got %s", c.Engine.SweepInterval))
	}
	if err := c.Outbox.Validate(c.DataDir); err != nil {
		errs = append(errs, err)
	}
	if err := c.Backfill.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Backfill.Enabled && c.NATS.Ledger.Enabled && c.NATS.Ledger.TTL < c.Backfill.Horizon {
		errs = append(errs, fmt.Errorf("nats.ledger.ttl (%s) must be at least backfill.horizon (%s): a backfilled call older than the ledger would be published again", c.NATS.Ledger.TTL, c.Backfill.Horizon))
	}
	if c.Backfill.Enabled && c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set when backfill.enabled (it keeps the last event time)"))
	}
	if err := c.Mapping.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.NATS.UseEmbedded() && c.NATS.Embedded.StoreDir == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set when the embedded NATS server has no nats.embedded.store_dir"))
	}
	return errors.Join(errs...)
}

func (r ReconnectConfig) retry() Retry {
	return Retry{Initial: r.Initial, Max: r.Max, StableAfter: r.StableAfter}
}
