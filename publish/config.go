package publish

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/secret"
)

// NATSConfig says where statuses go. With no URLs the daemon runs its own
// NATS server (Embedded) and publishes to it.
type NATSConfig struct {
	// URLs of an external NATS cluster; empty means the embedded server.
	URLs     []string `mapstructure:"urls" yaml:"urls"`
	User     string   `mapstructure:"user" yaml:"user"`
	Password string   `mapstructure:"password" yaml:"password"`
	Token    string   `mapstructure:"token" yaml:"token"`
	// PasswordFile and TokenFile hold the password or token instead (a
	// mounted secret); one trailing newline is ignored.
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
	TokenFile    string `mapstructure:"token_file" yaml:"token_file"`
	// NKeyFile is a file holding a user NKey seed.
	NKeyFile string `mapstructure:"nkey_file" yaml:"nkey_file"`
	// CredentialsFile is a .creds file (JWT and seed).
	CredentialsFile string    `mapstructure:"credentials_file" yaml:"credentials_file"`
	TLS             TLSConfig `mapstructure:"tls" yaml:"tls"`
	// Name is the client connection name the server shows.
	Name string `mapstructure:"name" yaml:"name"`

	// SubjectPrefix starts every subject: <prefix>.<pbx>.<category>.<status>.
	SubjectPrefix string `mapstructure:"subject_prefix" yaml:"subject_prefix"`
	// JetStream publishes into a stream and waits for its ack (dedupe by
	// call id); false publishes on core NATS and flushes.
	JetStream bool         `mapstructure:"jetstream" yaml:"jetstream"`
	Stream    StreamConfig `mapstructure:"stream" yaml:"stream"`
	// UserLegs also publishes one message per user leg of each call on
	// <prefix>.<pbx>.user.<extension>.<outcome> (mapping.UserLeg).
	UserLegs bool `mapstructure:"user_legs" yaml:"user_legs"`

	// PublishTimeout bounds one publish attempt (ack or flush).
	PublishTimeout time.Duration `mapstructure:"publish_timeout" yaml:"publish_timeout"`
	// RetryMax caps the wait between publish attempts.
	RetryMax time.Duration `mapstructure:"retry_max" yaml:"retry_max"`
	// FlushTimeout bounds how long shutdown waits for queued statuses.
	FlushTimeout time.Duration `mapstructure:"flush_timeout" yaml:"flush_timeout"`
	// ParkAfter is how many attempts in a row a status may fail with an
	// error no retry can fix (subject permission denied, over
	// max_payload, missing stream with create false) before it is parked
	// in the outbox's dead letter and the next one goes.
	ParkAfter int `mapstructure:"park_after" yaml:"park_after"`
	// Ledger is the KV bucket of published calls (JetStream only).
	Ledger LedgerConfig `mapstructure:"ledger" yaml:"ledger"`

	Embedded EmbeddedConfig `mapstructure:"embedded" yaml:"embedded"`
}

// TLSConfig holds client TLS files; all empty means no TLS beyond what a
// tls:// URL asks for.
type TLSConfig struct {
	CAFile   string `mapstructure:"ca_file" yaml:"ca_file"`
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file"`
}

// StreamConfig is the JetStream stream the statuses land in.
type StreamConfig struct {
	Name string `mapstructure:"name" yaml:"name"`
	// Create makes the stream when missing; false expects an admin to.
	Create bool `mapstructure:"create" yaml:"create"`
	// Duplicates is the dedupe window for the Nats-Msg-Id (call id).
	Duplicates time.Duration `mapstructure:"duplicates" yaml:"duplicates"`
	// MaxAge drops older statuses; 0 keeps them forever.
	MaxAge   time.Duration `mapstructure:"max_age" yaml:"max_age"`
	Replicas int           `mapstructure:"replicas" yaml:"replicas"`
}

// EmbeddedConfig is the in-process NATS server used when no URL is set.
type EmbeddedConfig struct {
	Host string `mapstructure:"host" yaml:"host"`
	// Port for clients; -1 picks a free one.
	Port int `mapstructure:"port" yaml:"port"`
	// Listen false serves only the daemon itself (no TCP port).
	Listen bool `mapstructure:"listen" yaml:"listen"`
	// StoreDir for JetStream; empty means <data_dir>/nats.
	StoreDir   string `mapstructure:"store_dir" yaml:"store_dir"`
	ServerName string `mapstructure:"server_name" yaml:"server_name"`
	// JetStreamDomain keeps an edge's JetStream apart from its hub's.
	JetStreamDomain string         `mapstructure:"jetstream_domain" yaml:"jetstream_domain"`
	LeafNode        LeafNodeConfig `mapstructure:"leafnode" yaml:"leafnode"`
}

// LeafNodeConfig connects the embedded server to a hub, so an edge daemon
// forwards its statuses.
type LeafNodeConfig struct {
	URL             string `mapstructure:"url" yaml:"url"`
	CredentialsFile string `mapstructure:"credentials_file" yaml:"credentials_file"`
}

// DefaultNATSConfig is the embedded server on 127.0.0.1:4222 with JetStream.
func DefaultNATSConfig() NATSConfig {
	return NATSConfig{
		URLs:          []string{},
		Name:          "callstatusd",
		SubjectPrefix: "callstatus",
		JetStream:     true,
		Stream: StreamConfig{
			Name:       "CALLSTATUS",
			Create:     true,
			Duplicates: 2 * time.Minute,
			MaxAge:     0,
			Replicas:   1,
		},
		UserLegs:       true,
		PublishTimeout: 5 * time.Second,
		RetryMax:       30 * time.Second,
		FlushTimeout:   10 * time.Second,
		ParkAfter:      3,
		Ledger:         DefaultLedgerConfig(),
		Embedded: EmbeddedConfig{
			Host:   "127.0.0.1",
			Port:   4222,
			Listen: true,
		},
	}
}

// Embedded reports whether the daemon runs its own server.
func (c NATSConfig) UseEmbedded() bool { return len(c.URLs) == 0 }

// Validate checks the NATS settings and reports every problem, each
// error naming its key.
func (c NATSConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for i, u := range c.URLs {
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			bad("nats.urls[%d] must be a URL such as nats://host:4222, got %q", i, u)
		}
	}
	if err := mapping.CheckSubject("nats.subject_prefix", c.SubjectPrefix); err != nil {
		errs = append(errs, err)
	}
	password, err := secret.Read(c.Password, c.PasswordFile, "nats.password")
	if err != nil {
		errs = append(errs, err)
	}
	token, err := secret.Read(c.Token, c.TokenFile, "nats.token")
	if err != nil {
		errs = append(errs, err)
	}
	if token != "" && (c.User != "" || c.CredentialsFile != "" || c.NKeyFile != "") {
		bad("nats.token cannot be combined with nats.user, nats.nkey_file or nats.credentials_file")
	}
	if c.CredentialsFile != "" && c.NKeyFile != "" {
		bad("nats.credentials_file and nats.nkey_file are exclusive")
	}
	if password != "" && c.User == "" {
		bad("nats.password needs nats.user")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("nats.tls.cert_file and nats.tls.key_file go together")
	}
	if c.JetStream {
		if mapping.CheckSubjectToken("nats.stream.name", c.Stream.Name) != nil || strings.ContainsAny(c.Stream.Name, "/\\") {
			bad("nats.stream.name must be a name without spaces, control characters, '.', '*', '>' or slashes, got %q", c.Stream.Name)
		}
		if c.Stream.Duplicates <= 0 {
			bad("nats.stream.duplicates must be positive, got %s", c.Stream.Duplicates)
		}
		if c.Stream.MaxAge < 0 {
			bad("nats.stream.max_age must not be negative, got %s", c.Stream.MaxAge)
		} else if c.Stream.MaxAge != 0 && c.Stream.MaxAge < c.Stream.Duplicates {
			bad("nats.stream.max_age (%s) must be 0 or at least nats.stream.duplicates (%s)", c.Stream.MaxAge, c.Stream.Duplicates)
		}
		if c.Stream.Replicas < 1 || c.Stream.Replicas > 5 {
			bad("nats.stream.replicas must be 1 to 5, got %d", c.Stream.Replicas)
		}
	}
	if c.PublishTimeout <= 0 {
		bad("nats.publish_timeout must be positive, got %s", c.PublishTimeout)
	}
	if c.RetryMax <= 0 {
		bad("nats.retry_max must be positive, got %s", c.RetryMax)
	}
	if c.FlushTimeout <= 0 {
		bad("nats.flush_timeout must be positive, got %s", c.FlushTimeout)
	}
	if c.ParkAfter < 1 {
		bad("nats.park_after must be at least 1, got %d", c.ParkAfter)
	}
	if c.JetStream {
		if err := c.Ledger.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.URLs) == 0 {
		e := c.Embedded
		if e.Port < -1 || e.Port > 65535 {
			bad("nats.embedded.port must be -1 (any) or 0..65535, got %d", e.Port)
		}
		if e.JetStreamDomain != "" {
			if err := mapping.CheckSubjectToken("nats.embedded.jetstream_domain", e.JetStreamDomain); err != nil {
				errs = append(errs, err)
			}
		}
		if e.LeafNode.URL != "" {
			pu, err := url.Parse(e.LeafNode.URL)
			if err != nil || pu.Host == "" {
				bad("nats.embedded.leafnode.url must be a URL such as nats-leaf://hub:7422, got %q", e.LeafNode.URL)
			}
		}
		if e.LeafNode.CredentialsFile != "" && e.LeafNode.URL == "" {
			bad("nats.embedded.leafnode.credentials_file needs nats.embedded.leafnode.url")
		}
	}
	return errors.Join(errs...)
}

// Secrets returns the password and token, read from their files when set.
func (c NATSConfig) Secrets() (password, token string, err error) {
	if password, err = secret.Read(c.Password, c.PasswordFile, "nats.password"); err != nil {
		return "", "", err
	}
	if token, err = secret.Read(c.Token, c.TokenFile, "nats.token"); err != nil {
		return "", "", err
	}
	return password, token, nil
}
