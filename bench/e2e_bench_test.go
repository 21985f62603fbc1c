package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/bench/fakeami"
	"github.com/callstatus/callstatus/bench/synth"
	"github.com/callstatus/callstatus/lab"
)

const (
	amiUser, amiSecret = "bench", "bench"
	// e2eCopies for the flat-out run: about 5,400 calls, 450,000 frames.
	e2eCopies = 5000
	// steadyConcurrency is the load of the paced run.
	steadyConcurrency = 2000
)

// received is one status as the subscriber saw it.
type received struct {
	at   time.Time
	id   string
	data []byte
}

// subscriber counts statuses on callstatus.*.*.* (not the per-user messages) and notes when each arrived.
type subscriber struct {
	nc   *nats.Conn
	want int

	mu    sync.Mutex
	msgs  []received
	ids   map[string]int
	dups  int
	last  time.Time
	done  chan struct{}
	fired bool
}

func subscribe(tb testing.TB, url string, want int) *subscriber {
	tb.Helper()
	s := &subscriber{want: want, ids: make(map[string]int, want), done: make(chan struct{})}
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for {
		s.nc, err = nats.Connect(url)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("subscriber: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sub, err := s.nc.Subscribe("callstatus.*.*.*", func(m *nats.Msg) {
		now := time.Now()
		id := m.Header.Get("Nats-Msg-Id")
		s.mu.Lock()
		defer s.mu.Unlock()
		s.msgs = append(s.msgs, received{at: now, id: id, data: m.Data})
		if s.ids[id]++; s.ids[id] > 1 {
			s.dups++
			return
		}
		s.last = now
		if len(s.ids) >= s.want && !s.fired {
			s.fired = true
			close(s.done)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1) // count, never drop
	if err := s.nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// wait returns true when every status arrived within d.
func (s *subscriber) wait(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (s *subscriber) counts() (distinct, dups int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids), s.dups, s.last
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemonConfig is the daemon as shipped (AMI with snapshot, embedded NATS
// with JetStream) pointed at the fake server, with the lab's rules.
func daemonConfig(tb testing.TB, amiAddr string, natsPort int) adapter.Config {
	cfg := adapter.DefaultConfig()
	cfg.DataDir = tb.TempDir()
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = amiAddr, amiUser, amiSecret
	cfg.Mapping = lab.Rules()
	cfg.NATS.Embedded.Port = natsPort
	return cfg
}

// BenchmarkE2E: the fake AMI server writes the multiplied stream as fast as
// the daemon (in this process: adapter.Daemon, AMI source only, embedded
// NATS with JetStream) reads it; a core NATS subscriber counts statuses.
// Time runs from the first byte written to the last status received.
func BenchmarkE2E(b *testing.B) {
	// Timestamps start now: the daemon sweeps by the wall clock, and calls
	// stamped months ago would all be past their TTL.
	st := generate(b, synth.Options{Copies: e2eCopies, Concurrency: steadyConcurrency, Start: time.Now()})
	var elapsed time.Duration
	var frames, statuses, lost, dups, events, retries, emitted int
	var writing time.Duration
	for b.Loop() {
		gate := make(chan struct{})
		srv, err := fakeami.Start(st, fakeami.Options{User: amiUser, Secret: amiSecret, Gate: gate})
		if err != nil {
			b.Fatal(err)
		}
		port := freePort(b)
		d, err := adapter.New(daemonConfig(b, srv.Addr(), port), nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- d.Run(ctx) }()
		sub := subscribe(b, fmt.Sprintf("nats://127.0.0.1:%d", port), st.Calls)
		close(gate)
		ok := sub.wait(2 * time.Minute)
		started, finished, _, _ := srv.Times()
		got, dup, last := sub.counts()
		cancel()
		if err := <-runErr; err != nil {
			b.Fatalf("daemon: %v", err)
		}
		sub.nc.Close()
		srv.Stop()
		if !ok {
			b.Logf("only %d of %d statuses arrived", got, st.Calls)
		}
		elapsed += last.Sub(started)
		writing += finished.Sub(started)
		frames += len(st.Frames)
		statuses += got
		lost += st.Calls - got
		dups += dup
		events += int(d.Stats().EventsApplied.Load())
		retries += int(d.Stats().Publish.Retries.Load())
		emitted += int(d.Stats().StatusesEmitted.Load())
	}
	b.ReportMetric(float64(retries), "retries")
	// Reading the stream versus publishing it: the time the server needed
	// to hand over every byte, over the whole run.
	b.ReportMetric(writing.Seconds()/elapsed.Seconds(), "write-share")
	b.ReportMetric(float64(emitted)/float64(b.N), "emitted")
	b.ReportMetric(float64(frames)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(events)/elapsed.Seconds(), "applied/s")
	b.ReportMetric(float64(statuses)/elapsed.Seconds(), "statuses/s")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(dups), "dups")
}

// latencies returns, for every status whose calls' last Hangup was written
// while at least minOpen calls were open, the time from that write to the
// subscriber's receipt.
func latencies(tb testing.TB, st *synth.Stream, hangupAt []time.Time, msgs []received, minOpen int32) []time.Duration {
	tb.Helper()
	byChan := make(map[string]int, len(st.Hangups))
	for i, h := range st.Hangups {
		byChan[h.Channel] = i
	}
	var out []time.Duration
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.id] {
			continue
		}
		seen[m.id] = true
		var cs struct {
			Channels []string `json:"channels"`
		}
		if err := json.Unmarshal(m.data, &cs); err != nil {
			tb.Fatal(err)
		}
		lastIdx := -1
		var lastAt time.Time
		for _, c := range cs.Channels {
			i, ok := byChan[c]
			if !ok {
				continue
			}
			if hangupAt[i].After(lastAt) {
				lastAt, lastIdx = hangupAt[i], i
			}
		}
		if lastIdx < 0 || st.Frames[st.Hangups[lastIdx].Frame].Open < minOpen {
			continue
		}
		out = append(out, m.at.Sub(lastAt))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds)-1) * p)
	return ds[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
