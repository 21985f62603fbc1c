package publish

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// connOptions turns the config into nats.go options. The connection never
// gives up (MaxReconnects -1) and does not buffer while disconnected, so a
// publish during an outage fails at once and the outbox retries it instead
// of losing it in a client buffer.
func connOptions(c NATSConfig, log *slog.Logger) ([]nats.Option, error) {
	var lastErr atomic.Value // string: log a failing reconnect once per kind of error
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
		// By default nats.go closes the connection for good after the
		// same auth error twice: a credential fixed on the server later
		// would never be retried, and every status would wait for a
		// restart. Keep trying, like the sources do.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil {
				return
			}
			if prev, _ := lastErr.Swap(err.Error()).(string); prev != err.Error() {
				log.Warn("nats connect failed; retrying", "err", err)
			} else {
				log.Debug("nats connect failed; retrying", "err", err)
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats connected", "url", connectedURL(nc))
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			} else {
				log.Info("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			lastErr.Store("")
			log.Info("nats reconnected", "url", connectedURL(nc))
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Info("nats connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Warn("nats async error", "err", err)
		}),
	}
	auth, err := ClientOptions(c)
	if err != nil {
		return nil, err
	}
	return append(opts, auth...), nil
}

// ClientOptions are the credential and TLS options of c, for any client
// of the same servers (the tail command).
func ClientOptions(c NATSConfig) ([]nats.Option, error) {
	var opts []nats.Option
	password, token, err := c.Secrets()
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, password))
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey_file %q: %w", c.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	if c.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLS.CAFile))
	}
	if c.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.TLS.CertFile, c.TLS.KeyFile))
	}
	return opts, nil
}

// Connect opens the publisher's connection to the configured servers. It
// returns at once even when no server is up yet; the client keeps trying.
func Connect(c NATSConfig, log *slog.Logger) (*nats.Conn, error) {
	log = orDiscard(log).With("component", "nats")
	opts, err := connOptions(c, log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(c.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %w", RedactURLs(c.URLs), err)
	}
	return nc, nil
}

// RedactURLs joins urls for a message, with any password in them
// replaced (nats://user:pass@host is a valid way to configure a client).
func RedactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, raw := range urls {
		out[i] = raw
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				out[i] = u.Redacted()
			} else {
				// nats://token@host: the user part is the token.
				u.User = url.User("xxxxx")
				out[i] = u.String()
			}
		}
	}
	return strings.Join(out, ",")
}
