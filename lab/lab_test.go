package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLab starts the lab container and runs every scenario to completion:
// the Local-channel scenarios all at once (their numbers are distinct), the
// SIP ones one after another (SIPp uses fixed ports in the container).
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	a := StartAsterisk(t)
	out, err := a.CLI("core show version")
	if err != nil {
		t.Fatalf("core show version: %v", err)
	}
	if !strings.HasPrefix(out, "Asterisk 22") {
		t.Fatalf("core show version = %q, want Asterisk 22", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := NewDriver(ctx, DriverConfig{Container: a.Container, AMIAddr: a.AMIAddr, ARIURL: a.ARIURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	t.Run("record", func(t *testing.T) {
		dir := t.TempDir()
		cfg := RecordConfig{AMIAddr: a.AMIAddr, AMIUser: a.DaemonUser, AMIPass: a.DaemonPass,
			ARIURL: a.ARIURL, ARIUser: a.DaemonUser, ARIPass: a.DaemonPass, App: "callstatus", Container: a.Container}
		if err := RecordScenario(ctx, d, cfg, dir, "outbound-busy", "test"); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"outbound-busy.ami":           {"Response: Success\r\nActionID: login\r\n", "Event: DialEnd\r\n", "DialStatus: BUSY\r\n", "Event: Hangup\r\n"},
			"outbound-busy.ari.jsonl":     {`"type":"ChannelCreated"`, `"CHANNEL(linkedid)":"`, `"type":"ChannelDestroyed"`},
			"outbound-busy.manifest.json": {`"status": "canceled"`, `"reason": "BUSY"`},
			"outbound-busy.cel.csv":       {"id,eventtype,eventtime,", ",CHAN_START,", `""hangupcause"":17`, ",LINKEDID_END,"},
		}
		for file, subs := range want {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range subs {
				if !strings.Contains(string(b), s) {
					t.Errorf("%s lacks %q", file, s)
				}
			}
		}
	})

	// All Local-channel scenarios at once (t.Parallel would be capped at
	// GOMAXPROCS, and these calls mostly wait), then one subtest each.
	results := map[string]chan error{}
	for _, s := range Scenarios() {
		if s.SIP {
			continue
		}
		ch := make(chan error, 1)
		results[s.Name] = ch
		go func() { ch <- d.Run(ctx, s.Name) }()
	}
	t.Run("scenarios", func(t *testing.T) {
		for _, s := range Scenarios() {
			if s.SIP {
				continue
			}
			t.Run(s.Name, func(t *testing.T) {
				if err := <-results[s.Name]; err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	t.Run("sip", func(t *testing.T) {
		for _, s := range Scenarios() {
			if !s.SIP {
				continue
			}
			t.Run(s.Name, func(t *testing.T) {
				if err := d.Run(ctx, s.Name); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	if got := d.ARIDrops(); got < 1 {
		t.Errorf("ARI voicemail drops = %d, want at least 1", got)
	}
	if err := d.WaitIdle(ctx, 10*time.Second); err != nil {
		t.Errorf("after all scenarios: %v", err)
	}
}

func TestScenarioCatalogue(t *testing.T) {
	statuses := map[string]string{"connected": "outbound", "voicemail_dropped": "outbound", "canceled": "outbound",
		"answered": "inbound", "missed": "inbound", "handled": "callcenter", "abandoned": "callcenter", "timeout": "callcenter"}
	seen := map[string]bool{}
	for _, s := range Scenarios() {
		if seen[s.Name] {
			t.Errorf("duplicate scenario %s", s.Name)
		}
		seen[s.Name] = true
		if len(s.Calls) == 0 || s.run == nil {
			t.Errorf("%s: no calls or no run", s.Name)
		}
		if s.SIP != strings.HasPrefix(s.Name, "sip-") {
			t.Errorf("%s: SIP scenarios are named sip-*", s.Name)
		}
		for _, c := range s.Calls {
			if statuses[c.Status] != c.Category {
				t.Errorf("%s: status %q does not belong to category %q", s.Name, c.Status, c.Category)
			}
		}
	}
}

// Every recording's manifest holds the catalogue's answer key: the key is
// the scenario's definition, so the two cannot drift apart (refresh with
// `callstatus-lab manifest`), and every scenario has a recording.
func TestManifestsMatchCatalogue(t *testing.T) {
	dir := "../testdata/recordings"
	for _, s := range Scenarios() {
		path := filepath.Join(dir, s.Name+".manifest.json")
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: no recording (%v)", s.Name, err)
			continue
		}
		tmp := t.TempDir()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, s.Name+".manifest.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		changed, err := RefreshManifest(tmp, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			t.Errorf("%s: manifest differs from the catalogue (go run ./cmd/callstatus-lab manifest --out testdata/recordings)", s.Name)
		}
	}
}
