package adapter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every password and token setting has a _file twin that ends up where the
// inline value would.
func TestConfigPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body+"\n"), 0o600)
		return p
	}
	cfg := DefaultConfig()
	cfg.AMI.Username, cfg.AMI.PasswordFile = "callstatus", file("ami", "ami-pw")
	cfg.ARI.Enabled = true
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.PasswordFile = "https://pbx:8089", "callstatus", file("ari", "ari-pw")
	cfg.NATS.URLs = []string{"nats://127.0.0.1:4222"}
	cfg.NATS.User, cfg.NATS.PasswordFile = "cs", file("nats", "nats-pw")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ac, err := cfg.AMI.Source()
	if err != nil || ac.Password != "ami-pw" {
		t.Errorf("ami password %q, %v", ac.Password, err)
	}
	rc, err := cfg.ARI.Source()
	if err != nil || rc.Password != "ari-pw" {
		t.Errorf("ari password %q, %v", rc.Password, err)
	}
	pw, _, err := cfg.NATS.Secrets()
	if err != nil || pw != "nats-pw" {
		t.Errorf("nats password %q, %v", pw, err)
	}

	cfg.NATS.User, cfg.NATS.PasswordFile, cfg.NATS.TokenFile = "", "", file("tok", "nats-token")
	if _, tok, err := cfg.NATS.Secrets(); err != nil || tok != "nats-token" {
		t.Errorf("nats token %q, %v", tok, err)
	}
	cfg.NATS.Token = "inline"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nats.token and nats.token_file are exclusive") {
		t.Errorf("Validate = %v", err)
	}
	cfg.NATS.Token, cfg.NATS.TokenFile = "", ""
	cfg.ARI.PasswordFile = filepath.Join(dir, "missing")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ari.password_file: open ") {
		t.Errorf("Validate = %v", err)
	}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "ari.password_file") {
		t.Errorf("New = %v", err)
	}
}
