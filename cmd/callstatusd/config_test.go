package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func runArgs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

// Each bad config is one file; the test holds the exact message a user
// sees from `callstatusd config check`.
func TestConfigCheckRejects(t *testing.T) {
	tests := map[string]string{
		"unknown-key.yaml":            `config testdata/unknown-key.yaml: unknown key "ami.adress"`,
		"bad-ami-address.yaml":        `ami.address must be host:port, got "asterisk"`,
		"no-sources.yaml":             `ami.enabled and ari.enabled are both false: enable at least one source`,
		"ari-without-url.yaml":        `ari.url must be http(s)://host:port, got ""`,
		"bad-pbx-id.yaml":             `mapping.pbx_id must be a non-empty NATS subject token (no spaces, dots, * or >), got "site.one"`,
		"bad-duration.yaml":           `config testdata/bad-duration.yaml: engine.sweep_interval: time: invalid duration, got "fast"`,
		"bad-log-level.yaml":          `log.level must be debug, info, warn or error, got "verbose"`,
		"bad-nats-url.yaml":           `nats.urls[0] must be a URL such as nats://host:4222, got "localhost"`,
		"bad-subject-prefix.yaml":     `nats.subject_prefix must not contain spaces, '*' or '>', got "call status"`,
		"zero-duplicates.yaml":        `nats.stream.duplicates must be positive, got 0s`,
		"leaf-creds-without-url.yaml": `nats.embedded.leafnode.credentials_file needs nats.embedded.leafnode.url`,
		"token-and-user.yaml":         `nats.token cannot be combined with nats.user, nats.nkey_file or nats.credentials_file`,
		"overlapping-contexts.yaml":   `mapping.internal_contexts: "from-trunk" is also in mapping.inbound_contexts`,
		"not-yaml.yaml":               "config testdata/not-yaml.yaml: While parsing config: yaml: line 1: did not find expected ',' or ']'",
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			out, _, err := runArgs(t, "config", "check", "--config", filepath.Join("testdata", file))
			if err == nil {
				t.Fatalf("accepted; printed %q", out)
			}
			if err.Error() != want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), want)
			}
		})
	}
}

func TestConfigCheckAcceptsExample(t *testing.T) {
	out, _, err := runArgs(t, "config", "check", "--config", "../../callstatusd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ok (../../callstatusd.example.yaml)\n" {
		t.Errorf("printed %q", out)
	}
}

// The example must mention every key, so it stays the reference.
func TestExampleCoversEveryKey(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addConfigFlags(fs)
	fs.Set("config", "../../callstatusd.example.yaml")
	cfg, _, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../../callstatusd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shown, err := showConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every leaf key name appears in the example at the same depth.
	for _, line := range strings.Split(string(shown), "\n") {
		key, _, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(string(body), "\n"+key+":") {
			t.Errorf("example lacks %q", strings.TrimSpace(key))
		}
	}
}

func load(t *testing.T, args ...string) (cfgPBX, amiAddr, amiPass string) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Mapping.PBXID, cfg.AMI.Address, cfg.AMI.Password
}

func TestConfigPrecedence(t *testing.T) {
	t.Run("file over defaults", func(t *testing.T) {
		pbx, addr, pass := load(t, "--config", "testdata/good.yaml")
		if pbx != "from-file" || addr != "10.0.0.5:5038" || pass != "file-secret" {
			t.Errorf("got %q %q %q", pbx, addr, pass)
		}
	})
	t.Run("env over file", func(t *testing.T) {
		t.Setenv("CALLSTATUS_AMI_PASSWORD", "env-secret")
		t.Setenv("CALLSTATUS_MAPPING_PBX_ID", "from-env")
		pbx, addr, pass := load(t, "--config", "testdata/good.yaml")
		if pbx != "from-env" || addr != "10.0.0.5:5038" || pass != "env-secret" {
			t.Errorf("got %q %q %q", pbx, addr, pass)
		}
	})
	t.Run("flag over env", func(t *testing.T) {
		t.Setenv("CALLSTATUS_MAPPING_PBX_ID", "from-env")
		t.Setenv("CALLSTATUS_AMI_ADDRESS", "10.9.9.9:5038")
		pbx, addr, _ := load(t, "--config", "testdata/good.yaml", "--pbx-id", "from-flag")
		if pbx != "from-flag" || addr != "10.9.9.9:5038" {
			t.Errorf("got %q %q", pbx, addr)
		}
	})
	t.Run("env without a file, lists and durations", func(t *testing.T) {
		t.Setenv("CALLSTATUS_NATS_URLS", "nats://a:4222,nats://b:4222")
		t.Setenv("CALLSTATUS_MAPPING_CALL_TTL", "90m")
		t.Setenv("CALLSTATUS_NATS_EMBEDDED_PORT", "-1")
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		addConfigFlags(fs)
		cfg, file, err := loadConfig(fs)
		if err != nil {
			t.Fatal(err)
		}
		if file != "" || len(cfg.NATS.URLs) != 2 || cfg.NATS.URLs[1] != "nats://b:4222" ||
			cfg.Mapping.CallTTL.Minutes() != 90 || cfg.NATS.Embedded.Port != -1 {
			t.Errorf("file %q urls %v ttl %s port %d", file, cfg.NATS.URLs, cfg.Mapping.CallTTL, cfg.NATS.Embedded.Port)
		}
	})
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	t.Setenv("CALLSTATUS_ARI_PASSWORD", "ari-secret")
	out, _, err := runArgs(t, "config", "show", "--config", "testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"file-secret", "ari-secret", "file-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("config show leaks %q:\n%s", secret, out)
		}
	}
	if strings.Count(out, `"<redacted>"`) != 3 {
		t.Errorf("want 3 redacted values:\n%s", out)
	}
	if !strings.Contains(out, "  pbx_id: from-file\n") || !strings.Contains(out, "  address: 10.0.0.5:5038\n") {
		t.Errorf("config show lacks file values:\n%s", out)
	}
	// What show prints loads again to the same config.
	dir := t.TempDir()
	p := filepath.Join(dir, "shown.yaml")
	os.WriteFile(p, []byte(strings.ReplaceAll(out, `"<redacted>"`, `"x"`)), 0o600)
	if _, _, err := runArgs(t, "config", "check", "--config", p); err != nil {
		t.Errorf("shown config does not check: %v", err)
	}
}
