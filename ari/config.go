package ari

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config says where ARI is and how to log in. Build it with DefaultConfig
// and check it once with Validate; Source assumes a valid Config.
type Config struct {
	// URL is Asterisk's HTTP server: http://host:port or https://host:port,
	// optionally with the prefix set in http.conf (http://host:8088/pbx).
	URL      string `mapstructure:"url"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// Application is the Stasis application name to register. Only one
	// websocket may hold a name; a second daemon with the same name takes
	// the events away from the first.
	Application string `mapstructure:"application"`
	// SubscribeAll asks for every channel, bridge and endpoint event, not
	// only those of channels in our Stasis application. The daemon only
	// observes, so it needs this.
	SubscribeAll bool `mapstructure:"subscribe_all"`
	// TLSCAFile is a PEM bundle trusted for https URLs (empty: system roots).
	TLSCAFile string `mapstructure:"tls_ca_file"`
	// TLSInsecureSkipVerify skips certificate checks (lab use only).
	TLSInsecureSkipVerify bool `mapstructure:"tls_insecure_skip_verify"`
	// DialTimeout bounds the websocket handshake and each REST call.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
}

// DefaultConfig returns the defaults: application "callstatus", all events,
// a 10 s dial timeout. URL and credentials have no default.
func DefaultConfig() Config {
	return Config{
		Application:  "callstatus",
		SubscribeAll: true,
		DialTimeout:  10 * time.Second,
	}
}

// Validate checks the config; its errors name the offending key.
func (c Config) Validate() error {
	var errs []error
	if err := checkURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Username == "" {
		errs = append(errs, errors.New("ari.username must not be empty"))
	}
	if c.Application == "" {
		errs = append(errs, errors.New("ari.application must not be empty"))
	} else if strings.ContainsAny(c.Application, ",/?&# ") {
		errs = append(errs, fmt.Errorf("ari.application must be one name without , / ? & # or spaces, got %q", c.Application))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ari.dial_timeout must be positive, got %s", c.DialTimeout))
	}
	if c.TLSCAFile != "" {
		if _, err := loadCA(c.TLSCAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string) error {
	bad := fmt.Errorf("ari.url must be http(s)://host:port, got %q", raw)
	u, err := url.Parse(raw)
	if err != nil {
		return bad
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad
	}
	if u.Hostname() == "" || u.Port() == "" || u.RawQuery != "" || u.Fragment != "" {
		return bad
	}
	if u.User != nil {
		// Credentials in the URL would end up in logs and errors.
		return fmt.Errorf("ari.url must not carry credentials (use ari.username and ari.password), got %s://%s", u.Scheme, u.Host)
	}
	return nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ari.tls_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ari.tls_ca_file: no PEM certificate in %q", path)
	}
	return pool, nil
}
