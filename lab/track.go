package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// tracker follows channel lifetimes from the driver's AMI event stream so a
// scenario can wait for "all channels of my call are gone" without racing a
// poll (a busy call may live for 50 ms).
type tracker struct {
	mu      sync.Mutex
	watches []*watch
	changed chan struct{} // closed and replaced on every change
}

// watch is one call: it starts with the first channel whose name has the
// prefix, then takes in every channel sharing a linkedid with it.
type watch struct {
	prefix  string
	linked  map[string]bool
	live    map[string]bool // uniqueids
	started bool
}

func newTracker() *tracker { return &tracker{changed: make(chan struct{})} }

func (t *tracker) onEvent(f Frame) {
	ev := f.Get("Event")
	if ev != "Newchannel" && ev != "Hangup" {
		return
	}
	uid, lid, name := f.Get("Uniqueid"), f.Get("Linkedid"), f.Get("Channel")
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.watches {
		switch ev {
		case "Newchannel":
			if (!w.started && strings.HasPrefix(name, w.prefix)) || (w.started && w.linked[lid]) {
				w.started = true
				w.linked[lid] = true
				w.linked[uid] = true
				w.live[uid] = true
			}
		case "Hangup":
			delete(w.live, uid)
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// watch must be called before the call is placed.
func (t *tracker) watch(prefix string) *watch {
	w := &watch{prefix: prefix, linked: map[string]bool{}, live: map[string]bool{}}
	t.mu.Lock()
	t.watches = append(t.watches, w)
	t.mu.Unlock()
	return w
}

// wait blocks until every watch started and has no live channel, then
// forgets them.
func (t *tracker) wait(ctx context.Context, ws ...*watch) error {
	defer func() {
		t.mu.Lock()
		keep := t.watches[:0]
		for _, w := range t.watches {
			mine := false
			for _, x := range ws {
				mine = mine || w == x
			}
			if !mine {
				keep = append(keep, w)
			}
		}
		t.watches = keep
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		done, pending := true, ""
		for _, w := range ws {
			if !w.started || len(w.live) > 0 {
				done = false
				if pending == "" {
					pending = fmt.Sprintf("%s (started=%v, live=%d)", w.prefix, w.started, len(w.live))
				}
			}
		}
		ch := t.changed
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for call %s to end: %w", pending, ctx.Err())
		case <-ch:
		}
	}
}
