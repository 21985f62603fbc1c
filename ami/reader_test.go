package ami

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// item is one ReadFrame result: a frame's headers or an error.
type item struct {
	h         []Header
	malformed int
	err       error
}

func h(kv ...string) []Header {
	out := make([]Header, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Header{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// readAll reads r to its end and returns every result. It stops after an
// error that is neither ErrFrameTooLarge nor io.EOF.
func readAll(t *testing.T, r *Reader) []item {
	t.Helper()
	var out []item
	for i := 0; i < 1000; i++ {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out = append(out, item{err: err})
			if errors.Is(err, ErrFrameTooLarge) {
				continue
			}
			return out
		}
		out = append(out, item{h: f.Headers, malformed: f.Malformed})
	}
	t.Fatal("reader did not reach EOF in 1000 frames")
	return nil
}

func TestReadFrame(t *testing.T) {
	tests := map[string]struct {
		in     string
		max    int
		want   []item
		banner string
	}{
		"CRLF event": {
			in:   "Event: Newchannel\r\nChannel: PJSIP/100-00000001\r\nUniqueid: 1732550000.1\r\n\r\n",
			want: []item{{h: h("Event", "Newchannel", "Channel", "PJSIP/100-00000001", "Uniqueid", "1732550000.1")}},
		},
		"bare LF": {
			in:   "Event: Hangup\nCause: 16\n\nEvent: Newstate\nChannelStateDesc: Up\n\n",
			want: []item{{h: h("Event", "Hangup", "Cause", "16")}, {h: h("Event", "Newstate", "ChannelStateDesc", "Up")}},
		},
		"CRLF then LF ending makes no empty frame": {
			in:   "Event: A\r\n\r\n\nEvent: B\r\n\n\r\n\r\nEvent: C\r\n\r\n",
			want: []item{{h: h("Event", "A")}, {h: h("Event", "B")}, {h: h("Event", "C")}},
		},
		"banner then response": {
			in:     "Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n",
			want:   []item{{h: h("Response", "Success", "Message", "Authentication accepted")}},
			banner: "Asterisk Call Manager/9.0.0",
		},
		"ChanVariable keys keep parentheses and slashes": {
			in: "Event: VarSet\r\nChanVariable(PJSIP/trunk-0000000a): CALLID=abc\r\nChanVariable: X=Y\r\n\r\n",
			want: []item{{h: h("Event", "VarSet",
				"ChanVariable(PJSIP/trunk-0000000a)", "CALLID=abc", "ChanVariable", "X=Y")}},
		},
		"value containing colon-space": {
			in:   "Event: UserEvent\r\nAppData: Playback(a): b\r\nAddress: [::1]:5060\r\n\r\n",
			want: []item{{h: h("Event", "UserEvent", "AppData", "Playback(a): b", "Address", "[::1]:5060")}},
		},
		"empty value and no space after colon": {
			in:   "Event: Newexten\r\nAppData: \r\nExten:s\r\nContext:\r\n\r\n",
			want: []item{{h: h("Event", "Newexten", "AppData", "", "Exten", "s", "Context", "")}},
		},
		"keys are canonicalized case-insensitively": {
			in:   "EVENT: Hangup\r\nuniqueID: 1.2\r\nX-Custom: v\r\n\r\n",
			want: []item{{h: h("Event", "Hangup", "Uniqueid", "1.2", "X-Custom", "v")}},
		},
		"lines without colon are counted, not fatal": {
			in:   "Event: Hangup\r\njunk line\r\nCause: 16\r\n\r\nEvent: Next\r\n\r\n",
			want: []item{{h: h("Event", "Hangup", "Cause", "16"), malformed: 1}, {h: h("Event", "Next")}},
		},
		"Response Follows with blank lines in output": {
			in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n" +
				"Channel              Location\r\n\r\nPJSIP/1-0001  s@default:1\r\n--END COMMAND--\r\n\r\n" +
				"Event: After\r\n\r\n",
			want: []item{
				{h: h("Response", "Follows", "Privilege", "Command", "ActionID", "7",
					"Output", "Channel              Location", "Output", "", "Output", "PJSIP/1-0001  s@default:1")},
				{h: h("Event", "After")},
			},
		},
		"Follows with END COMMAND glued to output": {
			in:   "Response: Follows\r\nPrivilege: Command\r\nNo such command--END COMMAND--\r\n\r\n",
			want: []item{{h: h("Response", "Follows", "Privilege", "Command", "Output", "No such command")}},
		},
		"Asterisk 14+ command output": {
			in:   "Response: Success\r\nMessage: Command output follows\r\nOutput: Name/username\r\nOutput: 1 objects found.\r\n\r\n",
			want: []item{{h: h("Response", "Success", "Message", "Command output follows", "Output", "Name/username", "Output", "1 objects found.")}},
		},
		"oversize frame is skipped and the stream recovers": {
			in:  "Event: Big\r\nData: " + strings.Repeat("x", 300) + "\r\nMore: y\r\n\r\nEvent: Small\r\n\r\n",
			max: 100,
			want: []item{
				{err: ErrFrameTooLarge},
				{h: h("Event", "Small")},
			},
		},
		"oversize single line longer than the bufio buffer": {
			in:  "Event: Big\r\nData: " + strings.Repeat("x", 200<<10) + "\r\n\r\nEvent: Small\r\n\r\n",
			max: 1000,
			want: []item{
				{err: ErrFrameTooLarge},
				{h: h("Event", "Small")},
			},
		},
		"long line under the limit is kept": {
			in:   "Event: Long\r\nData: " + strings.Repeat("y", 100<<10) + "\r\n\r\n",
			want: []item{{h: h("Event", "Long", "Data", strings.Repeat("y", 100<<10))}},
		},
		"EOF inside a frame": {
			in:   "Event: Hangup\r\nCause: 16\r\n",
			want: []item{{err: io.ErrUnexpectedEOF}},
		},
		"EOF inside a line": {
			in:   "Event: Hangup\r\nCau",
			want: []item{{err: io.ErrUnexpectedEOF}},
		},
		"garbage": {
			in:   "\x00\x01\xff:\r\n::::\r\n: \r\n\r\n\r\r\r\n\n",
			want: []item{{h: h("\x00\x01\xff", ""), malformed: 2}},
		},
		"empty stream": {
			in: "",
		},
		"only blank lines": {
			in: "\r\n\n\r\n  \r\n",
		},
	}
	// Each case runs on a whole buffer (mostly the fast path) and one byte
	// per read (the line-by-line slow path): both must agree.
	readers := map[string]func(string) io.Reader{
		"buffered": func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	}
	for name, tc := range tests {
		for rname, mk := range readers {
			t.Run(name+"/"+rname, func(t *testing.T) {
				r := NewReader(mk(tc.in))
				r.MaxFrameSize = tc.max
				got := readAll(t, r)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d results %+v, want %d %+v", len(got), got, len(tc.want), tc.want)
				}
				for i := range got {
					g, w := got[i], tc.want[i]
					if w.err != nil {
						if !errors.Is(g.err, w.err) {
							t.Errorf("result %d: err = %v, want %v", i, g.err, w.err)
						}
						continue
					}
					if g.err != nil {
						t.Errorf("result %d: unexpected error %v", i, g.err)
						continue
					}
					if !reflect.DeepEqual(g.h, w.h) {
						t.Errorf("result %d: headers\n got %q\nwant %q", i, g.h, w.h)
					}
					if g.malformed != w.malformed {
						t.Errorf("result %d: malformed = %d, want %d", i, g.malformed, w.malformed)
					}
				}
				if r.Banner() != tc.banner {
					t.Errorf("banner = %q, want %q", r.Banner(), tc.banner)
				}
			})
		}
	}
}

func TestReadBanner(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string
		wantErr string
	}{
		"asterisk 22":  {in: "Asterisk Call Manager/9.0.0\r\nResponse: x\r\n\r\n", want: "Asterisk Call Manager/9.0.0"},
		"bare LF":      {in: "Asterisk Call Manager/2.10.6\n", want: "Asterisk Call Manager/2.10.6"},
		"not asterisk": {in: "SSH-2.0-OpenSSH_9.6\r\n", wantErr: `ami: read banner: want "Asterisk Call Manager/"..., got "SSH-2.0-OpenSSH_9.6"`},
		"closed":       {in: "", wantErr: "ami: read banner: unexpected EOF"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in))
			got, err := r.ReadBanner()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || r.Banner() != tc.want {
				t.Fatalf("ReadBanner = %q, %v; Banner() = %q; want %q", got, err, r.Banner(), tc.want)
			}
		})
	}
}

func TestFrameRawAndLookup(t *testing.T) {
	in := "Event: Hangup\r\nUniqueid: 1.2\nCause: 16\r\n\r\n"
	r := NewReader(strings.NewReader(in))
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.Raw() != "Event: Hangup\r\nUniqueid: 1.2\nCause: 16\r\n" {
		t.Errorf("Raw = %q", f.Raw())
	}
	if f.Get("UNIQUEID") != "1.2" || f.Get("cause") != "16" || f.Event() != "Hangup" {
		t.Errorf("lookups failed on %q", f.Headers)
	}
	if _, ok := f.Lookup("Missing"); ok {
		t.Error("Lookup(Missing) found something")
	}
	if f.Seq != 1 || r.Frames() != 1 {
		t.Errorf("Seq = %d, Frames = %d, want 1", f.Seq, r.Frames())
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := map[string]struct {
		in   string
		want time.Time
		ok   bool
	}{
		"microseconds": {in: "1732550000.123456", want: time.Unix(1732550000, 123456000).UTC(), ok: true},
		"no fraction":  {in: "1732550000", want: time.Unix(1732550000, 0).UTC(), ok: true},
		"nanoseconds":  {in: "1.123456789999", want: time.Unix(1, 123456789).UTC(), ok: true},
		"leading zero": {in: "1732550000.000001", want: time.Unix(1732550000, 1000).UTC(), ok: true},
		"empty":        {in: ""},
		"dot only":     {in: "."},
		"trailing dot": {in: "12."},
		"letters":      {in: "12a.5"},
		"negative":     {in: "-1.5"},
		"huge":         {in: "99999999999999999999999.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseTimestamp(tc.in)
			if ok != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("ParseTimestamp(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
