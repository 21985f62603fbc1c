package ari

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.URL = "http://127.0.0.1:8088"
		c.Username = "callstatus"
		c.Password = "pw"
		return c
	}
	tests := map[string]struct {
		edit func(*Config)
		want string // "" means valid
	}{
		"defaults with url and user":            {edit: func(*Config) {}},
		"https with http.conf prefix":           {edit: func(c *Config) { c.URL = "https://pbx.example.com:8089/asterisk" }},
		"empty password is Asterisk's business": {edit: func(c *Config) { c.Password = "" }},
		"no scheme": {
			edit: func(c *Config) { c.URL = "asterisk:8088" },
			want: `ari.url must be http(s)://host:port, got "asterisk:8088"`,
		},
		"websocket scheme": {
			edit: func(c *Config) { c.URL = "ws://asterisk:8088" },
			want: `ari.url must be http(s)://host:port, got "ws://asterisk:8088"`,
		},
		"no port": {
			edit: func(c *Config) { c.URL = "http://asterisk" },
			want: `ari.url must be http(s)://host:port, got "http://asterisk"`,
		},
		"empty": {
			edit: func(c *Config) { c.URL = "" },
			want: `ari.url must be http(s)://host:port, got ""`,
		},
		"query": {
			edit: func(c *Config) { c.URL = "http://asterisk:8088/?app=x" },
			want: `ari.url must be http(s)://host:port, got "http://asterisk:8088/?app=x"`,
		},
		"credentials in the url are refused without echoing them": {
			edit: func(c *Config) { c.URL = "http://u:secret@asterisk:8088" },
			want: `ari.url must not carry credentials (use ari.username and ari.password), got http://asterisk:8088`,
		},
		"no username": {
			edit: func(c *Config) { c.Username = "" },
			want: `ari.username must not be empty`,
		},
		"no application": {
			edit: func(c *Config) { c.Application = "" },
			want: `ari.application must not be empty`,
		},
		"two applications": {
			edit: func(c *Config) { c.Application = "a,b" },
			want: `ari.application must be one name without , / ? & # or spaces, got "a,b"`,
		},
		"zero dial timeout": {
			edit: func(c *Config) { c.DialTimeout = 0 },
			want: `ari.dial_timeout must be positive, got 0s`,
		},
		"missing CA file": {
			edit: func(c *Config) { c.TLSCAFile = "testdata/missing.pem" },
			want: `ari.tls_ca_file: open testdata/missing.pem: no such file or directory`,
		},
		"CA file without a certificate": {
			edit: func(c *Config) { c.TLSCAFile = "testdata/not-a-cert.pem" },
			want: `ari.tls_ca_file: no PEM certificate in "testdata/not-a-cert.pem"`,
		},
		"every problem at once": {
			edit: func(c *Config) { *c = Config{DialTimeout: -time.Second} },
			want: "ari.url must be http(s)://host:port, got \"\"\n" +
				"ari.username must not be empty\n" +
				"ari.application must not be empty\n" +
				"ari.dial_timeout must be positive, got -1s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Fatalf("Validate() = %q, want %q", err, tc.want)
			}
		})
	}
}

func TestEventsURL(t *testing.T) {
	tests := map[string]struct {
		url          string
		subscribeAll bool
		want         string
	}{
		"http":              {"http://pbx:8088", true, "ws://pbx:8088/ari/events?app=callstatus&subscribeAll=true"},
		"https with prefix": {"https://pbx:8089/asterisk/", true, "wss://pbx:8089/asterisk/ari/events?app=callstatus&subscribeAll=true"},
		"only our app":      {"http://pbx:8088", false, "ws://pbx:8088/ari/events?app=callstatus"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.URL = tc.url
			c.SubscribeAll = tc.subscribeAll
			if got := NewSource(c, nil).eventsURL(); got != tc.want {
				t.Errorf("eventsURL = %q, want %q", got, tc.want)
			}
		})
	}
}
