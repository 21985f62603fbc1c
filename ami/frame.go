// Package ami reads the Asterisk Manager Interface wire format and turns
// AMI events into mapping events.
//
// The package has three layers, each usable alone:
//
//   - Reader: a pure frame reader over any io.Reader (a socket, a recording
//     file, a string in a test). It allocates one string and one header slice
//     per frame, whatever the number of lines.
//   - Translate: a pure function from a Frame to a mapping.Event.
//   - EventReader: Reader + Translate over any io.Reader, skipping and
//     reporting bad input (see FaultKind): the one decode path of the live
//     Source, replay, the tests and the benchmarks.
//   - Source: dials Asterisk, logs in (through github.com/heltonmarx/goami on
//     our own socket) and then reads events with an EventReader.
package ami

import (
	"strings"
	"time"
)

// Header is one "Key: Value" line of a frame.
type Header struct {
	Key   string
	Value string
}

// Frame is one AMI message: an event, a response, or a command output. The
// headers keep the wire order because AMI repeats keys (ChanVariable,
// Output) and the order of prefixed channel blocks matters to nobody but a
// human reading evidence.
type Frame struct {
	Headers []Header
	// Malformed counts the lines of this frame that had no colon. Such
	// lines are dropped; the frame itself is still delivered.
	Malformed int
	// Seq is the number of this frame on its stream, starting at 1.
	Seq uint64

	raw string
}

// Raw returns the frame exactly as it was read, line endings included,
// without the blank line that ended it. Header keys and values are
// substrings of it, so keeping it costs nothing extra.
func (f *Frame) Raw() string { return f.raw }

// Lookup returns the value of the first header named key (compared
// case-insensitively) and whether it exists.
func (f *Frame) Lookup(key string) (string, bool) {
	// The reader stores known keys in their canonical spelling, so an exact
	// comparison almost always hits; EqualFold is the fallback for the rest.
	for i := range f.Headers {
		if f.Headers[i].Key == key {
			return f.Headers[i].Value, true
		}
	}
	for i := range f.Headers {
		if strings.EqualFold(f.Headers[i].Key, key) {
			return f.Headers[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of the first header named key, or "".
func (f *Frame) Get(key string) string {
	v, _ := f.Lookup(key)
	return v
}

// Values returns every value of the headers named key, in wire order.
func (f *Frame) Values(key string) []string {
	var out []string
	for i := range f.Headers {
		if strings.EqualFold(f.Headers[i].Key, key) {
			out = append(out, f.Headers[i].Value)
		}
	}
	return out
}

// Event returns the Event header ("" for responses).
func (f *Frame) Event() string {
	if len(f.Headers) > 0 && f.Headers[0].Key == "Event" {
		return f.Headers[0].Value
	}
	return f.Get("Event")
}

// Time returns the frame's Timestamp header (manager.conf
// timestampevents=yes) and whether it was present and valid.
func (f *Frame) Time() (time.Time, bool) {
	v, ok := f.Lookup("Timestamp")
	if !ok {
		return time.Time{}, false
	}
	return ParseTimestamp(v)
}

// ParseTimestamp parses an AMI Timestamp value ("1732550000.123456",
// seconds.microseconds) into a UTC time. It works on the digits, not through
// a float64, which would round the microseconds away.
func ParseTimestamp(s string) (time.Time, bool) {
	var sec, nsec int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' || i >= 18 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(c-'0')
	}
	if i == 0 {
		return time.Time{}, false
	}
	if i < len(s) { // fraction
		i++
		scale := int64(100_000_000)
		digits := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			if digits < 9 {
				nsec += int64(c-'0') * scale
				scale /= 10
			}
			digits++
		}
		if digits == 0 {
			return time.Time{}, false
		}
	}
	return time.Unix(sec, nsec).UTC(), true
}
