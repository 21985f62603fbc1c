package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/callstatus/callstatus/adapter"
)

// FuzzLoadConfig feeds arbitrary YAML to the loader and the validator, as
// `callstatusd config check` does: they must never panic, and a config
// they refuse must be refused with errors that each name the file and a
// key (or, for YAML that does not parse, the line). Seeds: every file in
// testdata/ and testdata/bad/, the shipped example, and
// testdata/fuzz/FuzzLoadConfig/ (wrong types, odd YAML).
func FuzzLoadConfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	seeds = append(seeds, bad...)
	seeds = append(seeds, "../../callstatusd.example.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	keys := knownKeys()
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, in, 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		addConfigFlags(fs)
		fs.Set("config", p)
		cfg, _, err := loadValid(fs)
		if err == nil {
			// Accepted: it must also be showable (config show).
			if _, err := showConfig(cfg); err != nil {
				t.Fatalf("valid config does not show: %v", err)
			}
			return
		}
		if decodeFile(p, in, newSchema()).unread {
			// YAML that does not parse: one error, with the line when
			// yaml.v3 knows it.
			if !strings.HasPrefix(err.Error(), p+":") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("parse error: %q", err)
			}
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, p+":") || !namesKeyOrPlace(strings.TrimPrefix(line, p+":"), keys) {
				t.Fatalf("error names no file and key: %q", line)
			}
		}
	})
}

// knownKeys lists every config key and section ("ami", "ami.tls",
// "ami.tls.ca_file" ...).
func knownKeys() []string {
	seen := map[string]bool{}
	walkConfig("", reflect.ValueOf(adapter.DefaultConfig()), func(key string, _ reflect.Value) {
		for k := key; k != ""; {
			seen[k] = true
			i := strings.LastIndex(k, ".")
			if i < 0 {
				break
			}
			k = k[:i]
		}
	})
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	return out
}

func namesKeyOrPlace(msg string, keys []string) bool {
	for _, k := range keys {
		if strings.Contains(msg, k) {
			return true
		}
	}
	return false
}
