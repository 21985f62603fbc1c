package ari

import "testing"

// FuzzTranslate feeds arbitrary bytes through Decode, the path of every
// websocket message and recorded line. It may not panic, and whatever
// translates must name a channel and carry the message's seq.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte(`{"type":"Dial","dialstatus":"ANSWER","peer":{"id":"1.2"}}`))
	f.Add([]byte(`{"type":"PlaybackStarted","playback":{"target_uri":"channel:"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := Decode(data, 7)
		if err != nil {
			if len(msg.Events) != 0 {
				t.Fatalf("Decode error %v with %d events", err, len(msg.Events))
			}
			return
		}
		for _, ev := range msg.Events {
			if ev.Chan.UniqueID == "" && ev.Peer.UniqueID == "" {
				t.Fatalf("event %v names no channel", ev.Kind)
			}
			if ev.Seq != 7 {
				t.Fatalf("event %v has Seq %d", ev.Kind, ev.Seq)
			}
		}
	})
}
