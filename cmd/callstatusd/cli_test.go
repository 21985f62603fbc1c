package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Each command lists the flags it uses, and no other.
func TestEachCommandShowsItsOwnFlags(t *testing.T) {
	all := []string{"--config", "--pbx-id", "--data-dir", "--log-level", "--log-format", "--ami-address", "--ari-url", "--nats-url", "--http-listen"}
	tests := map[string][]string{
		"run":            all,
		"config check":   all,
		"config show":    all,
		"replay":         {"--config", "--pbx-id", "--strict"},
		"tail":           {"--config", "--server", "--subject", "--json"},
		"recents":        {"--config", "--server", "--last", "--outcome", "--json", "--timeout"},
		"outbox list":    {"--config", "--data-dir", "--json"},
		"outbox requeue": {"--config", "--data-dir"},
		"get":            {"--config", "--server"},
	}
	flag := regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z-]+)`)
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			out, _, err := runArgs(t, append(strings.Fields(name), "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range flag.FindAllStringSubmatch(out, -1) {
				if m[1] != "--help" {
					got = append(got, m[1])
				}
			}
			slices.Sort(got)
			want = slices.Clone(want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("flags %v, want %v\n%s", got, want, out)
			}
		})
	}
}

// tail names one server, and says where it comes from; it never guesses
// an address the daemon does not listen on.
func TestTailServer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urls := write("urls.yaml", "nats:\n  urls: [nats://a:4222, nats://b:4222]\n")
	port := write("port.yaml", "nats:\n  embedded:\n    port: 14222\n")
	all := write("all.yaml", "nats:\n  embedded:\n    host: 0.0.0.0\n")
	zero := write("zero.yaml", "nats:\n  embedded:\n    port: 0\n")
	random := write("random.yaml", "nats:\n  embedded:\n    port: -1\n")
	closed := write("closed.yaml", "nats:\n  embedded:\n    listen: false\n")
	tests := map[string]struct {
		args      []string
		env       map[string]string
		url, from string
		err       string
	}{
		"flag wins": {args: []string{"--config", urls, "--server", "nats://c:4222"}, url: "nats://c:4222", from: "--server"},
		"nats.urls": {args: []string{"--config", urls}, url: "nats://a:4222,nats://b:4222", from: "nats.urls from " + urls + ":2:9"},
		"nats.urls from the environment": {env: map[string]string{"CALLSTATUS_NATS_URLS": "nats://e:4222"},
			url: "nats://e:4222", from: "nats.urls from CALLSTATUS_NATS_URLS"},
		"embedded defaults": {url: "nats://127.0.0.1:4222",
			from: "the embedded server's address: nats.embedded.host default, nats.embedded.port default"},
		"embedded port from the file": {args: []string{"--config", port}, url: "nats://127.0.0.1:14222",
			from: "the embedded server's address: nats.embedded.host default, nats.embedded.port from " + port + ":3:11"},
		"embedded port from the environment": {env: map[string]string{"CALLSTATUS_NATS_EMBEDDED_PORT": "24222"}, url: "nats://127.0.0.1:24222",
			from: "the embedded server's address: nats.embedded.host default, nats.embedded.port from CALLSTATUS_NATS_EMBEDDED_PORT"},
		"every address is reached on loopback": {args: []string{"--config", all}, url: "nats://127.0.0.1:4222",
			from: "the embedded server's address: nats.embedded.host from " + all + ":3:11, nats.embedded.port default"},
		"port 0 is the server's default": {args: []string{"--config", zero}, url: "nats://127.0.0.1:4222",
			from: "the embedded server's address: nats.embedded.host default, nats.embedded.port from " + zero + ":3:11"},
		"random port": {args: []string{"--config", random},
			err: `tail: the embedded NATS server takes a random port (nats.embedded.port is -1): name it with --server (the daemon logs it: "embedded nats server ready")`},
		"no TCP port": {args: []string{"--config", closed},
			err: "tail: the embedded NATS server does not listen (nats.embedded.listen is false): name a server with --server"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cmd := tailCmd(nil)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			l := loadLayers(cmd.Flags(), os.Environ())
			if len(l.errs) > 0 {
				t.Fatal(l.errs)
			}
			flag, _ := cmd.Flags().GetString("server")
			url, from, err := natsServer("tail", flag, l)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || url != tc.url || from != tc.from {
				t.Errorf("got %q (%s) %v\nwant %q (%s)", url, from, err, tc.url, tc.from)
			}
		})
	}
}

// The real process: config check exits 1 on a bad config and prints one
// line per error; 0 and "ok" on a good one.
func TestConfigCheckExitCode(t *testing.T) {
	_, stderr, code := runMain(t, "config", "check", "--config", "testdata/bad/every-error.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 11 {
		t.Errorf("%d lines, want 11:\n%s", len(lines), stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "callstatusd: testdata/bad/every-error.yaml:") {
			t.Errorf("line %q", l)
		}
	}
	stdout, stderr, code := runMain(t, "config", "check", "--config", "../../callstatusd.example.yaml")
	if code != 0 || stdout != "ok (../../callstatusd.example.yaml)\n" {
		t.Errorf("example: exit %d, %q %q", code, stdout, stderr)
	}
}
