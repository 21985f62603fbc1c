package ami

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultDialTimeout bounds dialing and the login exchange when
// Config.DialTimeout is zero.
const DefaultDialTimeout = 10 * time.Second

// Config says how to reach the Asterisk Manager Interface. Only cmd/ fills
// it (from viper); everything else takes it as a value.
type Config struct {
	// Address is host:port of the AMI listener (manager.conf, port 5038,
	// or 5039 for TLS).
	Address  string
	Username string
	Password string
	// TLS, when set, wraps the connection in TLS. An empty ServerName is
	// taken from Address.
	TLS *tls.Config
	// DialTimeout bounds the TCP (and TLS) dial and the login exchange;
	// 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Events is the Login event mask: "on" (all classes the user may
	// read), "off", or a comma list such as "call,agent,dialplan,user".
	// Empty means "on".
	Events string
}

// Validate reports every problem, each error naming its configuration key.
func (c Config) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" || port == "" {
		errs = append(errs, fmt.Errorf("ami.address must be host:port, got %q", c.Address))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("ami.address port must be 1-65535, got %q", port))
	}
	// AMI is line based: a line break in a credential would inject headers
	// into the Login action.
	if c.Username == "" {
		errs = append(errs, errors.New("ami.username must be set"))
	} else if strings.ContainsAny(c.Username, "\r\n") {
		errs = append(errs, errors.New("ami.username must not contain line breaks"))
	}
	if c.Password == "" {
		errs = append(errs, errors.New("ami.password must be set"))
	} else if strings.ContainsAny(c.Password, "\r\n") {
		errs = append(errs, errors.New("ami.password must not contain line breaks"))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("ami.dial_timeout must not be negative, got %s", c.DialTimeout))
	}
	if c.Events != "" {
		for _, class := range strings.Split(c.Events, ",") {
			if !validClass(strings.TrimSpace(class)) {
				errs = append(errs, fmt.Errorf("ami.events must be on, off or a comma list of event classes, got %q", c.Events))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// validClass reports whether s is a manager.conf read class (or on/off),
// the words a Login event mask may use.
func validClass(s string) bool {
	switch strings.ToLower(s) {
	case "on", "off", "all", "system", "call", "log", "verbose", "command", "agent", "user",
		"config", "dtmf", "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc",
		"test", "security", "message":
		return true
	}
	return false
}

func (c Config) events() string {
	if c.Events == "" {
		return "on"
	}
	return c.Events
}

func (c Config) dialTimeout() time.Duration {
	if c.DialTimeout == 0 {
		return DefaultDialTimeout
	}
	return c.DialTimeout
}
