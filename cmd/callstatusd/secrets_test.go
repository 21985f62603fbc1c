package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets may come from files named in the config or the environment
// (CALLSTATUS_AMI_PASSWORD_FILE): config check reads them, config show
// prints the path and never the content, and a password inside a NATS URL
// is redacted too.
func TestSecretsFromFilesAndShow(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "ami-password")
	os.WriteFile(pwFile, []byte("from-a-file\n"), 0o600)
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte(`ami:
  username: callstatus
mapping:
  pbx_id: p1
nats:
  urls: ["nats://cs:url-secret@10.0.0.9:4222", "nats://url-token@10.0.0.10:4222"]
`), 0o600)
	t.Setenv("CALLSTATUS_AMI_PASSWORD_FILE", pwFile)

	if out, _, err := runArgs(t, "config", "check", "--config", cfgFile); err != nil {
		t.Fatalf("check: %v (%s)", err, out)
	}
	out, _, err := runArgs(t, "config", "show", "--config", cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"from-a-file", "url-secret", "url-token"} {
		if strings.Contains(out, s) {
			t.Errorf("config show leaks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "  password_file: "+pwFile+"\n") {
		t.Errorf("config show lacks ami.password_file:\n%s", out)
	}
	if !strings.Contains(out, "nats://cs:xxxxx@10.0.0.9:4222") || !strings.Contains(out, "nats://xxxxx@10.0.0.10:4222") {
		t.Errorf("config show URLs not redacted as expected:\n%s", out)
	}

	// A missing file is named by its key.
	t.Setenv("CALLSTATUS_AMI_PASSWORD_FILE", filepath.Join(dir, "missing"))
	_, _, err = runArgs(t, "config", "check", "--config", cfgFile)
	if err == nil || !strings.HasPrefix(err.Error(), "CALLSTATUS_AMI_PASSWORD_FILE: ami.password_file: open ") {
		t.Errorf("check with a missing file: %v", err)
	}
}
