package ari

import (
	"testing"

	ariv6 "github.com/CyCoreSystems/ari/v6"
)

// FuzzTranslate feeds arbitrary bytes through the same path as a websocket
// message: DecodeEvent then Translate. Neither may panic, and whatever
// translates must name a channel.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte(`{"type":"Dial","dialstatus":"ANSWER","peer":{"id":"1.2"}}`))
	f.Add([]byte(`{"type":"PlaybackStarted","playback":{"target_uri":"channel:"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ariv6.DecodeEvent(data)
		if err != nil || e == nil {
			return
		}
		evs, ok := Translate(e)
		if ok != (len(evs) > 0) {
			t.Fatalf("Translate ok = %v with %d events", ok, len(evs))
		}
		for _, ev := range evs {
			if ev.Chan.UniqueID == "" && ev.Peer.UniqueID == "" {
				t.Fatalf("event %v names no channel", ev.Kind)
			}
		}
	})
}
