package adapter

import (
	"sync"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

// The queue keeps order and loses nothing whatever the batching, and Out
// closes after In is closed and drained.
func TestEventQueueOrder(t *testing.T) {
	tests := map[string]struct {
		events int
		slow   bool // the engine lags, batches fill up
	}{
		"one event":          {events: 1},
		"a trickle":          {events: 100},
		"a burst":            {events: 100_000},
		"burst, slow reader": {events: 20_000, slow: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := newEventQueue(new(Stats), orDiscard(nil))
			go func() {
				for i := range tc.events {
					q.In() <- mapping.Event{Seq: uint64(i)}
				}
				q.Close()
			}()
			next := uint64(0)
			for batch := range q.Out() {
				if len(batch) == 0 || len(batch) > maxBatch {
					t.Fatalf("batch of %d", len(batch))
				}
				for _, ev := range batch {
					if ev.Seq != next {
						t.Fatalf("got seq %d, want %d", ev.Seq, next)
					}
					next++
				}
				if tc.slow && next < 1000 {
					for range 1000 {
						_ = next * next
					}
				}
			}
			if next != uint64(tc.events) {
				t.Fatalf("%d events out, want %d", next, tc.events)
			}
		})
	}
}

// BenchmarkEventQueue: one source goroutine to the engine goroutine.
func BenchmarkEventQueue(b *testing.B) {
	q := newEventQueue(new(Stats), orDiscard(nil))
	var wg sync.WaitGroup
	wg.Add(1)
	n := 0
	go func() {
		defer wg.Done()
		for batch := range q.Out() {
			n += len(batch)
		}
	}()
	ev := mapping.Event{Kind: mapping.VarSet, Chan: mapping.Channel{UniqueID: "x"}}
	b.ReportAllocs()
	for b.Loop() {
		q.In() <- ev
	}
	q.Close()
	wg.Wait()
	if n != b.N {
		b.Fatalf("%d of %d events", n, b.N)
	}
}
