package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// tracker follows channel lifetimes from the driver's AMI event stream so a
// scenario can wait for "all channels of my call are gone", or for one of
// its channels to reach a state, without racing a poll (a busy call may
// live for 50 ms) and without a fixed deadline: a wait ends when the event
// arrives or when the scenario's context ends.
type tracker struct {
	mu      sync.Mutex
	watches []*watch
	mwi     map[string]int // MessageWaiting events seen per mailbox
	changed chan struct{}  // closed and replaced on every change
}

// watch is one call: it starts with the first channel whose name has the
// prefix, then takes in every channel sharing a linkedid with it.
type watch struct {
	prefix  string
	linked  map[string]bool
	live    map[string]bool // uniqueids
	chans   map[string]*chanState
	started bool
}

// chanState is what the watch knows of one of its channels.
type chanState struct {
	Name      string
	UniqueID  string
	State     string // ChannelStateDesc: Down, Ring, Ringing, Up...
	Bridge    string // BridgeUniqueid while in a bridge
	Parked    bool   // between ParkedCall and UnParkedCall/ParkedCallGiveUp/ParkedCallTimeOut
	ParkSpace string // the ParkingSpace of the last ParkedCall
	Held      bool   // a Hold event (e.g. an attended transfer started on it)
	DTMFIn    int    // DTMF digits the channel received (DTMFEnd, Direction Received)
	Gone      bool
}

func newTracker() *tracker { return &tracker{mwi: map[string]int{}, changed: make(chan struct{})} }

// dtmfIn is how many DTMF digits channel uid of w received so far.
func (t *tracker) dtmfIn(w *watch, uid string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := w.chans[uid]; c != nil {
		return c.DTMFIn
	}
	return 0
}

// messages is how many MessageWaiting events named mailbox so far.
func (t *tracker) messages(mailbox string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mwi[mailbox]
}

func (t *tracker) onEvent(f Frame) {
	ev := f.Get("Event")
	uid, lid, name := f.Get("Uniqueid"), f.Get("Linkedid"), f.Get("Channel")
	switch ev {
	case "MessageWaiting":
		t.mu.Lock()
		t.mwi[f.Get("Mailbox")]++
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		return
	case "Newchannel", "Hangup", "Newstate", "BridgeEnter", "BridgeLeave", "Hold", "DTMFEnd":
	case "ParkedCall", "UnParkedCall", "ParkedCallGiveUp", "ParkedCallTimeOut":
		// Park events name the parked channel with a Parkee prefix.
		uid, lid, name = f.Get("ParkeeUniqueid"), f.Get("ParkeeLinkedid"), f.Get("ParkeeChannel")
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.watches {
		if ev == "Newchannel" && ((!w.started && strings.HasPrefix(name, w.prefix)) || (w.started && w.linked[lid])) {
			w.started = true
			w.linked[lid] = true
			w.linked[uid] = true
			w.live[uid] = true
			w.chans[uid] = &chanState{Name: name, UniqueID: uid, State: f.Get("ChannelStateDesc")}
			continue
		}
		c := w.chans[uid]
		if c == nil {
			continue
		}
		if s := f.Get("ChannelStateDesc"); s != "" {
			c.State = s
		}
		if name != "" {
			c.Name = name // a masquerade or a Local optimization renames
		}
		switch ev {
		case "Hangup":
			delete(w.live, uid)
			c.Gone, c.Bridge = true, ""
		case "BridgeEnter":
			c.Bridge = f.Get("BridgeUniqueid")
		case "BridgeLeave":
			if c.Bridge == f.Get("BridgeUniqueid") {
				c.Bridge = ""
			}
		case "Hold":
			c.Held = true
		case "DTMFEnd":
			if f.Get("Direction") == "Received" {
				c.DTMFIn++
			}
		case "ParkedCall":
			c.Parked, c.ParkSpace = true, f.Get("ParkingSpace")
		case "UnParkedCall", "ParkedCallGiveUp", "ParkedCallTimeOut":
			c.Parked = false
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// watch must be called before the call is placed.
func (t *tracker) watch(prefix string) *watch {
	w := &watch{prefix: prefix, linked: map[string]bool{}, live: map[string]bool{}, chans: map[string]*chanState{}}
	t.mu.Lock()
	t.watches = append(t.watches, w)
	t.mu.Unlock()
	return w
}

// forget drops watches the scenario no longer needs.
func (t *tracker) forget(ws ...*watch) {
	t.mu.Lock()
	defer t.mu.Unlock()
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
}

// wait blocks until every watch started and has no live channel, then
// forgets them.
func (t *tracker) wait(ctx context.Context, ws ...*watch) error {
	defer t.forget(ws...)
	return t.until(ctx, func() (bool, string) {
		for _, w := range ws {
			if !w.started || len(w.live) > 0 {
				return false, fmt.Sprintf("call %s to end (started=%v, live=%d)", w.prefix, w.started, len(w.live))
			}
		}
		return true, ""
	})
}

// until re-evaluates cond (under the tracker's lock) after every tracked
// event until it holds or ctx ends. cond returns what it still waits for.
func (t *tracker) until(ctx context.Context, cond func() (bool, string)) error {
	for {
		t.mu.Lock()
		ok, pending := cond()
		ch := t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", pending, ctx.Err())
		case <-ch:
		}
	}
}

// channel waits until a live channel of w whose name starts with prefix and
// ends with suffix satisfies ok, and returns a copy of it.
func (t *tracker) channel(ctx context.Context, w *watch, prefix, suffix, what string, ok func(chanState) bool) (chanState, error) {
	var found chanState
	err := t.until(ctx, func() (bool, string) {
		for _, c := range w.chans {
			if !c.Gone && strings.HasPrefix(c.Name, prefix) && strings.HasSuffix(c.Name, suffix) && ok(*c) {
				found = *c
				return true, ""
			}
		}
		return false, fmt.Sprintf("channel %s*%s %s", prefix, suffix, what)
	})
	return found, err
}

// bridgedWith waits until a channel of w named prefix*suffix is in a bridge
// with another channel of w named peer* (both live), and returns the first.
func (t *tracker) bridgedWith(ctx context.Context, w *watch, prefix, suffix, peer string) (chanState, error) {
	return t.channel(ctx, w, prefix, suffix, "bridged with "+peer+"*", func(c chanState) bool {
		if c.Bridge == "" {
			return false
		}
		for _, p := range w.chans {
			if p.UniqueID != c.UniqueID && !p.Gone && p.Bridge == c.Bridge && strings.HasPrefix(p.Name, peer) {
				return true
			}
		}
		return false
	})
}
