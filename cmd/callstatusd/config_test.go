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

// Each bad config is one file in testdata/bad; the test holds the exact
// message a user sees from `callstatusd config check` (which then exits
// 1). Every file needs its entry, so a new case cannot go unchecked.
func TestConfigCheckRejects(t *testing.T) {
	const sub = "NATS subject token (no spaces, control characters, '.', '*' or '>')"
	const subs = "NATS subject tokens joined by '.' (no empty token, spaces, control characters, '*' or '>')"
	tests := map[string]string{
		"unknown-key.yaml":                `unknown-key.yaml:4:3: unknown key ami.adress (did you mean ami.address?)`,
		"key-in-wrong-section.yaml":       `key-in-wrong-section.yaml:2:1: unknown key pbx_id (did you mean mapping.pbx_id?)`,
		"set-twice.yaml":                  `set-twice.yaml:4:3: ami.username is set twice (first at line 2)`,
		"set-twice-dotted.yaml":           `set-twice-dotted.yaml:4:15: ami.password is set twice (first at line 3)`,
		"section-is-a-value.yaml":         `section-is-a-value.yaml:1:6: ami must be a section of keys, got "on"`,
		"list-is-a-value.yaml":            `list-is-a-value.yaml:3:9: nats.urls must be a list such as [a, b], got "nats://nats:4222"`,
		"not-yaml.yaml":                   `not-yaml.yaml:1: did not find expected ',' or ']'`,
		"confirm-grace-no-unit.yaml":      `confirm-grace-no-unit.yaml:3:18: mapping.confirm_grace needs a unit: write 5s (or 5ms, 5m), got 5`,
		"queue-service-level.yaml":        `queue-service-level.yaml:3:39: mapping.queue_service_levels[1]: must be queue=duration such as support=30s, got "sales"`,
		"duplicates-no-unit.yaml":         `duplicates-no-unit.yaml:4:17: nats.stream.duplicates needs a unit: write 120s (or 120ms, 120m), got 120`,
		"sweep-interval-no-unit.yaml":     `sweep-interval-no-unit.yaml:3:19: engine.sweep_interval needs a unit: write 5s (or 5ms, 5m), got 5`,
		"duration-quoted-number.yaml":     `duration-quoted-number.yaml:3:13: mapping.call_ttl needs a unit: write 90s (or 90ms, 90m), got 90`,
		"bad-duration.yaml":               `bad-duration.yaml:3:19: engine.sweep_interval must be a duration such as 500ms, 5s or 4h, got "fast"`,
		"bool-is-a-number.yaml":           `bool-is-a-number.yaml:2:12: ami.enabled must be true or false, got 2`,
		"bool-is-yes.yaml":                `bool-is-yes.yaml:4:13: ami.snapshot must be true or false, got "yes"`,
		"bool-is-quoted.yaml":             `bool-is-quoted.yaml:4:13: ami.snapshot must be true or false, got "true" (quoted, so a string)`,
		"int-is-a-float.yaml":             `int-is-a-float.yaml:4:11: nats.embedded.port must be an integer, got 4222.9`,
		"int-is-a-bool.yaml":              `int-is-a-bool.yaml:4:11: nats.embedded.port must be an integer, got true`,
		"int-is-a-word.yaml":              `int-is-a-word.yaml:3:14: mapping.max_calls must be an integer, got "many"`,
		"int-overflow.yaml":               `int-overflow.yaml:4:11: nats.embedded.port is out of range, got 99999999999999999999`,
		"bad-ami-address.yaml":            `bad-ami-address.yaml:2:12: ami.address must be host:port, got "asterisk"`,
		"no-sources.yaml":                 `no-sources.yaml:2:12: ami.enabled and ari.enabled are both false: enable at least one source`,
		"ari-without-url.yaml":            `ari-without-url.yaml: ari.url must be http(s)://host:port, got ""`,
		"bad-pbx-id.yaml":                 `bad-pbx-id.yaml:3:11: mapping.pbx_id must be a ` + sub + `, got "site.one"`,
		"pbx-id-newline.yaml":             `pbx-id-newline.yaml:3:11: mapping.pbx_id must be a ` + sub + `, got "site\none"`,
		"bad-subject-prefix.yaml":         `bad-subject-prefix.yaml:3:19: nats.subject_prefix must be ` + subs + `, got "call status"`,
		"subject-prefix-empty-token.yaml": `subject-prefix-empty-token.yaml:3:19: nats.subject_prefix must be ` + subs + `, got "calls..status"`,
		"jetstream-domain-dot.yaml":       `jetstream-domain-dot.yaml:4:23: nats.embedded.jetstream_domain must be a ` + sub + `, got "edge.one"`,
		"bad-log-level.yaml":              `bad-log-level.yaml:3:10: log.level must be debug, info, warn or error, got "verbose"`,
		"bad-nats-url.yaml":               `bad-nats-url.yaml:3:10: nats.urls[0] must be a URL such as nats://host:4222, got "localhost"`,
		"zero-duplicates.yaml":            `zero-duplicates.yaml:4:17: nats.stream.duplicates must be positive, got 0s`,
		"leaf-creds-without-url.yaml":     `leaf-creds-without-url.yaml:5:25: nats.embedded.leafnode.credentials_file needs nats.embedded.leafnode.url`,
		"token-and-user.yaml":             `token-and-user.yaml:5:10: nats.token cannot be combined with nats.user, nats.nkey_file or nats.credentials_file`,
		"overlapping-contexts.yaml":       `overlapping-contexts.yaml:4:22: mapping.internal_contexts: "from-trunk" is also in mapping.inbound_contexts`,
		"outbox-two-errors.yaml": `outbox-two-errors.yaml:2:11: data_dir must be set when outbox.durable is true and outbox.dir is empty
outbox-two-errors.yaml:2:11: data_dir must be set when the embedded NATS server has no nats.embedded.store_dir
outbox-two-errors.yaml:4:11: outbox.memory must be at least 1, got 0`,
		// Every error, in the file's order, decoding and validation alike.
		"every-error.yaml": `every-error.yaml:2:10: log.level must be debug, info, warn or error, got "verbose"
every-error.yaml:3:11: log.format must be text or json, got "xml"
every-error.yaml:5:12: ami.enabled must be true or false, got 2
every-error.yaml:6:12: ami.address must be host:port, got "asterisk"
every-error.yaml:9:17: ami.dial_timeout needs a unit: write 10s (or 10ms, 10m), got 10
every-error.yaml:11:11: mapping.pbx_id must be a ` + sub + `, got "a b"
every-error.yaml:12:14: mapping.max_calls must be at least 1, got 0
every-error.yaml:14:19: nats.subject_prefix must be ` + subs + `, got "call status"
every-error.yaml:16:17: nats.stream.duplicates needs a unit: write 120s (or 120ms, 120m), got 120
every-error.yaml:17:15: nats.stream.replicas must be 1 to 5, got 9
every-error.yaml:19:11: nats.embedded.port must be an integer, got 4222.9`,
	}
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if _, ok := tests[filepath.Base(p)]; !ok {
			t.Errorf("%s has no expected message in this test", p)
		}
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			p := filepath.Join("testdata", "bad", file)
			if _, err := os.Stat(p); err != nil {
				t.Fatal(err)
			}
			out, _, err := runArgs(t, "config", "check", "--config", p)
			if err == nil {
				t.Fatalf("accepted; printed %q", out)
			}
			want = strings.ReplaceAll("\n"+want, "\n", "\ntestdata/bad/")[1:]
			if err.Error() != want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), want)
			}
		})
	}
}

// The environment follows the file's rules, and a variable that sets no
// key is refused; flags name themselves too.
func TestConfigCheckRejectsEnvAndFlags(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"misspelled variable": {
			env:  map[string]string{"CALLSTATUS_AMI_ADRESS": "10.0.0.1:5038"},
			want: `CALLSTATUS_AMI_ADRESS is not a config variable: did you mean CALLSTATUS_AMI_ADDRESS (ami.address)?`,
		},
		"bool is a number": {
			env:  map[string]string{"CALLSTATUS_AMI_ENABLED": "2"},
			want: `CALLSTATUS_AMI_ENABLED: ami.enabled must be true or false, got "2"`,
		},
		"int is a float": {
			env:  map[string]string{"CALLSTATUS_NATS_EMBEDDED_PORT": "4222.9"},
			want: `CALLSTATUS_NATS_EMBEDDED_PORT: nats.embedded.port must be an integer, got "4222.9"`,
		},
		"int overflows": {
			env:  map[string]string{"CALLSTATUS_MAPPING_MAX_CALLS": "99999999999999999999"},
			want: `CALLSTATUS_MAPPING_MAX_CALLS: mapping.max_calls is out of range, got "99999999999999999999"`,
		},
		"duration without a unit": {
			env:  map[string]string{"CALLSTATUS_MAPPING_CONFIRM_GRACE": "5"},
			want: `CALLSTATUS_MAPPING_CONFIRM_GRACE: mapping.confirm_grace needs a unit: write 5s (or 5ms, 5m), got 5`,
		},
		"pbx_id with a newline, over a good file": {
			env:  map[string]string{"CALLSTATUS_MAPPING_PBX_ID": "site\none"},
			args: []string{"--config", "testdata/good.yaml"},
			want: `CALLSTATUS_MAPPING_PBX_ID: mapping.pbx_id must be a NATS subject token (no spaces, control characters, '.', '*' or '>'), got "site\none"`,
		},
		"missing file": {
			args: []string{"--config", "testdata/bad/no-such-file.yaml"},
			want: `config: open testdata/bad/no-such-file.yaml: no such file or directory`,
		},
		"a flag's list replaces the file's, and names itself": {
			args: []string{"--config", "testdata/bad/bad-nats-url.yaml", "--nats-url", "nats:x"},
			want: `--nats-url: nats.urls[0] must be a URL such as nats://host:4222, got "nats:x"`,
		},
		"flag": {
			args: []string{"--pbx-id", "a b"},
			want: `--pbx-id: mapping.pbx_id must be a NATS subject token (no spaces, control characters, '.', '*' or '>'), got "a b"`,
		},
		"two variables, both reported": {
			env: map[string]string{"CALLSTATUS_AMI_ENABLED": "yes", "CALLSTATUS_ENGINE_SWEEP_INTERVAL": "1"},
			want: `CALLSTATUS_AMI_ENABLED: ami.enabled must be true or false, got "yes"
CALLSTATUS_ENGINE_SWEEP_INTERVAL: engine.sweep_interval needs a unit: write 1s (or 1ms, 1m), got 1`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CALLSTATUS_AMI_USERNAME", "callstatus")
			t.Setenv("CALLSTATUS_AMI_PASSWORD", "secret")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, _, err := runArgs(t, append([]string{"config", "check"}, tc.args...)...)
			if err == nil {
				t.Fatalf("accepted; printed %q", out)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tc.want)
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

// The backfill's DSN may hold the database password, in either form.
func TestConfigShowRedactsDSNPassword(t *testing.T) {
	for _, dsn := range []string{"host=db user=callstatus password='s3 cret' dbname=asterisk",
		"postgres://callstatus:s3cret@db:5432/asterisk?sslmode=disable"} {
		t.Setenv("CALLSTATUS_BACKFILL_DSN", dsn)
		out, _, err := runArgs(t, "config", "show", "--config", "testdata/good.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "s3") || !strings.Contains(out, "dsn: ") {
			t.Errorf("config show leaks the DSN password of %q:\n%s", dsn, out)
		}
	}
}

// A dotted key at the top (ami.address: ...) is the nested key, as viper
// always read it.
func TestDottedKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dotted.yaml")
	os.WriteFile(p, []byte("ami.username: callstatus\nami.password: secret\nmapping.pbx_id: dotted\n"), 0o600)
	pbx, _, pass := load(t, "--config", p)
	if pbx != "dotted" || pass != "secret" {
		t.Errorf("got %q %q", pbx, pass)
	}
}
