package ari

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

// startARITLS serves f over HTTPS (Asterisk's http.conf tlsenable) and
// returns a config trusting the server's certificate through tls_ca_file.
func startARITLS(t *testing.T, f *fakeARI) Config {
	t.Helper()
	f.t = t
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "asterisk-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.URL, cfg.Username, cfg.Password, cfg.TLSCAFile = srv.URL, testUser, testPass, ca
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ARI over HTTPS: the event websocket is wss:// and the channel list is
// fetched over https, both verified against ari.tls_ca_file; without the
// CA the certificate is refused.
func TestSourceOverTLS(t *testing.T) {
	f := &fakeARI{msgs: readLines(t, "testdata/replay.ari.jsonl"), channels: `[` + alice("Up") + `]`}
	cfg := startARITLS(t, f)
	if !strings.HasPrefix(cfg.URL, "https://") {
		t.Fatalf("URL %s", cfg.URL)
	}
	s := NewSource(cfg, nil)
	if u := s.eventsURL(); !strings.HasPrefix(u, "wss://") {
		t.Errorf("events URL %s, want wss://", u)
	}
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, _ := drain(t, t.Context(), s)
	if len(evs) != 9 || evs[len(evs)-1].Kind != mapping.ChannelHangup {
		t.Errorf("got %d events over wss, want 9 ending in a hangup", len(evs))
	}
	snap, err := NewSource(cfg, nil).Channels(t.Context())
	if err != nil || len(snap) != 1 {
		t.Errorf("Channels over https: %d, %v", len(snap), err)
	}

	untrusted := cfg
	untrusted.TLSCAFile = ""
	err = NewSource(untrusted, nil).Connect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Connect without the CA = %v, want a certificate error", err)
	}
	if _, err := NewSource(untrusted, nil).Channels(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Channels without the CA = %v, want a certificate error", err)
	}
}
