package adapter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/callstatus/callstatus/mapping"
)

// byCall indexes collected statuses by call id, failing on a repeat.
func byCall(t *testing.T, c *collector) map[string]mapping.CallStatus {
	t.Helper()
	out := map[string]mapping.CallStatus{}
	for _, cs := range c.statuses(t) {
		if _, dup := out[cs.CallID]; dup {
			t.Errorf("call %s published twice", cs.CallID)
		}
		out[cs.CallID] = cs
	}
	return out
}

// Bad input on the live AMI path, between and around good calls: a frame
// of garbage bytes, an event nobody knows, a 2 MiB frame (over the 1 MiB
// frame limit), then the connection drops in the middle of a frame. Every
// whole call is published, the skipped frame and the cut are logged, the
// cut call is finalized after the reconnect (its channels are gone from
// the snapshot) and marked incomplete, and the call after the reconnect
// is published too.
func TestDaemonAMIBadInputBetweenCalls(t *testing.T) {
	t0 := time.Now().UTC().Add(-time.Minute)
	callC := amiInboundAnswered("1600000000.30", t0.Add(2*time.Second))
	cut := strings.Index(callC, "Event: DialEnd") + len("Event: DialEnd\r\nPrivilege: call,all\r\n")
	stream := amiInboundAnswered("1600000000.10", t0) +
		"\x00\xff\xfe garbage without a colon\r\n\x01\x02\r\n\r\n" +
		"Event: QuantumEntanglement\r\nPrivilege: call,all\r\nChannel: PJSIP/x\r\nUniqueid: 1600000000.10\r\n\r\n" +
		"Event: Newexten\r\nPrivilege: dialplan,all\r\nAppData: " + strings.Repeat("A", 2<<20) + "\r\n\r\n" +
		amiInboundAnswered("1600000000.20", t0.Add(time.Second)) +
		callC[:cut]
	f := startFakeAMI(t, "callstatus", "s3cret", stream)
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = f.addr(), "callstatus", "s3cret"
	cfg.Reconnect = ReconnectConfig{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, StableAfter: time.Second}
	log, buf := bufferLog(t)
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := runDaemon(t, d)
	c := collect(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	eventually(t, 10*time.Second, "calls A and B", func() bool { return c.count() >= 2 })

	f.push(amiInboundAnswered("1600000000.40", time.Now().UTC()))
	f.dropAll()
	eventually(t, 10*time.Second, "calls C (cut) and D (after reconnect)", func() bool { return c.count() >= 4 })
	time.Sleep(100 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := byCall(t, c)
	for _, id := range []string{"10", "20", "40"} {
		cs, ok := got["lab:1600000000."+id]
		if !ok || cs.Status != mapping.Answered || cs.Incomplete {
			t.Errorf("call %s: %+v (present %v), want answered, complete", id, cs.Status, ok)
		}
	}
	if cs, ok := got["lab:1600000000.30"]; !ok || !cs.Incomplete {
		t.Errorf("cut call: present %v, incomplete %v; want it published as incomplete", ok, cs.Incomplete)
	}
	if len(got) != 4 {
		t.Errorf("%d calls published, want 4", len(got))
	}
	logs := buf.String()
	for _, want := range []string{"ami frame skipped", "frame too large", "mid-frame"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// Bad input on the live ARI websocket between two calls: a message cut
// short, one that is not JSON, a known type with wrong field types, an
// unknown type, a bad timestamp (all from the replay recording), plus
// wrong-typed copies of real events between the calls. Both calls are
// published, each once.
func TestDaemonARIBadInputBetweenCalls(t *testing.T) {
	raw, err := os.ReadFile("../ari/testdata/replay.ari.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	callA := strings.Split(strings.TrimSpace(string(raw)), "\n")
	callB := strings.Split(strings.ReplaceAll(strings.TrimSpace(string(raw)), "1736935200", "1736935300"), "\n")
	bad := []string{
		`{"type":"ChannelCreated","channel":"not an object"}`,
		`{"type":"ChannelDestroyed","cause":"sixteen","channel":{"id":1736935200.1}}`,
		`{"type":"Dial","peer":[],"caller":true}`,
		`{"type":42}`,
		`[]`,
		`null`,
		`{"type":"StasisStart","channel":{"id":"x","channelvars":{"CHANNEL(linkedid)":7}}}`,
	}
	msgs := append(append(append([]string{}, callA...), bad...), callB...)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "callstatus" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/ari/events" {
			http.NotFound(w, r)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := ws.CloseRead(r.Context())
		for _, m := range msgs {
			if m == "" {
				continue
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		<-ctx.Done()
	}))
	t.Cleanup(srv.Close)

	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	cfg.AMI.Enabled = false
	cfg.ARI.Enabled, cfg.ARI.Snapshot = true, false
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = srv.URL, "callstatus", "s3cret"
	log, buf := bufferLog(t)
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := runDaemon(t, d)
	c := collect(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	eventually(t, 10*time.Second, "both calls", func() bool { return c.count() >= 2 })
	time.Sleep(100 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := byCall(t, c)
	for _, id := range []string{"lab:1736935200.1", "lab:1736935300.1"} {
		if _, ok := got[id]; !ok {
			t.Errorf("call %s not published (got %v)", id, keys(got))
		}
	}
	if len(got) != 2 {
		t.Errorf("%d calls published, want 2: %v", len(got), keys(got))
	}
	logs := buf.String()
	if n := strings.Count(logs, "undecodable event skipped"); n < len(bad) {
		t.Errorf("%d decode errors logged, want at least %d", n, len(bad))
	}
	// One line per bad message: no stack trace (ari/v6 errors carry one).
	if strings.Contains(logs, ".go:") {
		t.Errorf("log holds a stack trace:\n%s", logs)
	}
}

func keys(m map[string]mapping.CallStatus) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
