package replay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
	"github.com/callstatus/callstatus/bench/fakeami"
	"github.com/callstatus/callstatus/bench/synth"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

// replayed returns the events replay.Read gives for one file, without the
// SourceUp it puts first (the live sources do not emit one).
func replayed(t *testing.T, file string) []mapping.Event {
	t.Helper()
	var out []mapping.Event
	_, err := replay.Read(replay.Options{}, []string{file}, func(ev mapping.Event) error {
		if ev.Kind != mapping.SourceUp {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recordings lists the lab's recordings with the given suffix, and the
// capture with every fault.
func recordings(t *testing.T, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/recordings/*" + suffix)
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d recordings (%v), want every lab scenario", len(files), err)
	}
	return append(files, "../testdata/faults/faulty"+suffix)
}

// firstDiff describes the first place two event sequences differ.
func firstDiff(live, rep []mapping.Event) string {
	for i := range min(len(live), len(rep)) {
		if !reflect.DeepEqual(live[i], rep[i]) {
			return "event " + strconv.Itoa(i) + ":\n live   " + describe(live[i]) + "\n replay " + describe(rep[i])
		}
	}
	return "live " + strconv.Itoa(len(live)) + " events, replay " + strconv.Itoa(len(rep))
}

func describe(e mapping.Event) string {
	return e.Kind.String() + " seq=" + strconv.Itoa(int(e.Seq)) + " t=" + e.Time.Format(time.RFC3339Nano) + " chan=" + e.Chan.UniqueID + " peer=" + e.Peer.UniqueID
}

// Every AMI recording, served by a fake Asterisk on loopback to the live
// ami.Source, gives exactly the events replay reads from the file: the same
// decode path, bad input included (the faulty capture).
func TestLiveAMISourceMatchesReplay(t *testing.T) {
	for _, file := range recordings(t, ".ami") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The recording starts with the recorder's login response (or
			// a banner, then it): the fake sends its own in its place, so
			// frame numbers match.
			raw = bytes.TrimPrefix(raw, []byte("Asterisk Call Manager/9.0.0\r\n"))
			if bytes.HasPrefix(raw, []byte("Response: Success\r\n")) {
				raw = raw[bytes.Index(raw, []byte("\r\n\r\n"))+4:]
			}
			srv, err := fakeami.Start(&synth.Stream{Bytes: raw}, fakeami.Options{User: "callstatus", Secret: "s3cret", Close: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Stop)
			src := ami.NewSource(ami.Config{Address: srv.Addr(), Username: "callstatus", Password: "s3cret", Events: "on", DialTimeout: 5 * time.Second}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := src.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var live []mapping.Event
			for {
				ev, err := src.Next(ctx)
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("after %d events: %v", len(live), err)
					}
					break
				}
				live = append(live, ev)
			}
			rep := replayed(t, file)
			if len(rep) == 0 {
				t.Fatal("no events")
			}
			if !reflect.DeepEqual(live, rep) {
				t.Errorf("live and replay differ at %s", firstDiff(live, rep))
			}
		})
	}
}

// Every ARI recording, one websocket message per line from an httptest
// server, gives the live ari.Source exactly the events replay reads.
func TestLiveARISourceMatchesReplay(t *testing.T) {
	for _, file := range recordings(t, ".ari.jsonl") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, p, ok := r.BasicAuth(); !ok || u != "callstatus" || p != "s3cret" || r.URL.Path != "/ari/events" {
					http.Error(w, "no", http.StatusUnauthorized)
					return
				}
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer c.CloseNow()
				ctx := c.CloseRead(r.Context())
				for _, l := range lines { // a blank line too: message numbers are line numbers
					if err := c.Write(ctx, websocket.MessageText, l); err != nil {
						return
					}
				}
				c.Close(websocket.StatusNormalClosure, "done")
			}))
			t.Cleanup(srv.Close)
			cfg := ari.DefaultConfig()
			cfg.URL, cfg.Username, cfg.Password = srv.URL, "callstatus", "s3cret"
			src := ari.NewSource(cfg, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := src.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var live []mapping.Event
			for {
				ev, err := src.Next(ctx)
				if err != nil {
					if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
						t.Fatalf("after %d events: %v", len(live), err)
					}
					break
				}
				live = append(live, ev)
			}
			rep := replayed(t, file)
			if len(rep) == 0 {
				t.Fatal("no events")
			}
			if !reflect.DeepEqual(live, rep) {
				t.Errorf("live and replay differ at %s", firstDiff(live, rep))
			}
		})
	}
}
