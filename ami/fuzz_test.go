package ami

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// Seeds live in testdata/fuzz/<target>/ (real-looking frames, Follows
// output, a banner, garbage); f.Add covers the smallest cases.

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("Event: A\r\n\r\n"), 0)
	f.Add([]byte("Asterisk Call Manager/9.0.0\r\nResponse: Follows\r\nx\r\n\r\n--END COMMAND--\r\n\r\n"), 64)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 0 {
			max = -max
		}
		max %= 4096
		// The fast path (whole buffer) and the slow path (one byte per
		// read) must give the same frames.
		fast, slow := NewReader(bytes.NewReader(in)), NewReader(iotest.OneByteReader(bytes.NewReader(in)))
		fast.MaxFrameSize, slow.MaxFrameSize = max, max
		for i := 0; ; i++ {
			f1, err1 := fast.ReadFrame()
			f2, err2 := slow.ReadFrame()
			if fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("frame %d: fast error %v, slow error %v", i, err1, err2)
			}
			if !reflect.DeepEqual(f1.Headers, f2.Headers) || f1.Raw() != f2.Raw() || f1.Malformed != f2.Malformed {
				t.Fatalf("frame %d differs:\nfast %q %q\nslow %q %q", i, f1.Headers, f1.Raw(), f2.Headers, f2.Raw())
			}
			if err1 != nil && !errors.Is(err1, ErrFrameTooLarge) {
				break
			}
		}
		r := NewReader(bytes.NewReader(in))
		r.MaxFrameSize = max
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatalf("more frames (%d) than input bytes (%d)", i, len(in))
			}
			fr, err := r.ReadFrame()
			if err == io.EOF {
				return
			}
			if errors.Is(err, ErrFrameTooLarge) {
				continue
			}
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			raw := fr.Raw()
			for _, h := range fr.Headers {
				if h.Key != "Output" && !strings.Contains(strings.ToLower(raw), strings.ToLower(h.Key)) {
					t.Fatalf("key %q not in raw frame %q", h.Key, raw)
				}
				if !strings.Contains(raw, h.Value) {
					t.Fatalf("value %q not in raw frame %q", h.Value, raw)
				}
				if strings.ContainsAny(h.Value, "\n") {
					t.Fatalf("value %q holds a newline", h.Value)
				}
			}
			if err != nil {
				return // ErrUnexpectedEOF ends the stream
			}
			if len(fr.Headers) == 0 && fr.Malformed == 0 {
				t.Fatalf("empty frame returned from %q", in)
			}
		}
	})
}

// FuzzTranslate feeds arbitrary bytes through the EventReader, the path of
// the live source and of replay: no panic, every event names a channel,
// event numbers only grow and never pass the frames read, and every fault
// names its frame.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte("Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n"))
	f.Add([]byte("Event: AttendedTransfer\r\nOrigTransfererUniqueid: 1\r\nTransfereeUniqueid: 2\r\nLocalOneUniqueid: 3\r\n\r\n"))
	f.Add([]byte("Event: Hangup\r\nTimestamp: 1.5\r\nUniqueid: 1.1\r\n\r\nEvent: Hangup\r\nTimestamp: 1.5\r\nUniqueid: 1.1\r\n\r\njunk\r\n\r\nEvent: Hangup\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r *EventReader
		r = NewEventReader(bytes.NewReader(in), EventOptions{MaxFrameSize: 512, OnFault: func(fl Fault) error {
			if fl.Frame == 0 || fl.Frame > r.Frames()+1 {
				t.Fatalf("fault %v names frame %d of %d", fl.Kind, fl.Frame, r.Frames())
			}
			return nil
		}})
		var last uint64
		for {
			ev, err := r.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if ev.Chan.UniqueID == "" && ev.Peer.UniqueID == "" {
				t.Fatalf("translated an event with no channel: %+v", ev)
			}
			if ev.Seq <= last || ev.Seq > r.Frames() {
				t.Fatalf("Seq = %d after %d, %d frames read", ev.Seq, last, r.Frames())
			}
			last = ev.Seq
		}
	})
}
