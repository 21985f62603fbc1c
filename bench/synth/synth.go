// Package synth multiplies the lab recordings (testdata/recordings/*.ami)
// into a large, realistic AMI byte stream for benchmarks: every copy of a
// recording gets fresh unique ids, linked ids, channel sequence numbers and
// bridge ids, its timestamps are shifted to its start time, and the copies
// are interleaved by timestamp so that about Options.Concurrency calls are
// open at any moment (after a ramp-up of one recording length).
//
// The stream is what Asterisk 22 writes after a Login with events on:
// frames only, no banner, no login response.
package synth

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callstatus/callstatus/ami"

	"github.com/callstatus/callstatus/lab/answerkey"
)

// Recording is one lab recording cut into frame templates.
type Recording struct {
	Name string
	// Calls is the number of statuses the recording produces (its
	// manifest's calls but those known to get no status of their own).
	Calls int
	// Duration is the time from its first to its last timestamped frame.
	Duration time.Duration

	frames  []frame
	ids     []string // the original unique/linked ids, by slot
	idPfx   []string // their system-name prefix ("lab-")
	nChans  int      // distinct channel sequence numbers
	nBridge int      // distinct bridge ids
	size    int      // bytes of one copy, about
}

// frame is a template: literal text with slots for what changes per copy.
type frame struct {
	at     time.Duration // since the recording's first timestamp
	event  string
	text   string // the frame, CRLF lines, ending with the blank line
	slots  []slot
	linked int // slot of its Linkedid header, -1 if none
	uniq   int // slot of its Uniqueid header, -1 if none
	// channel is the slot-bearing Channel header value (a Hangup's channel
	// is what a status lists).
	chanStart, chanEnd int
}

type slotKind uint8

const (
	slotTime   slotKind = iota // Timestamp value
	slotID                     // unique or linked id
	slotChan                   // 8 hex digits of a channel name
	slotBridge                 // bridge UUID
)

type slot struct {
	start, end int // in frame.text
	kind       slotKind
	idx        int
}

var (
	uuidRe    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	idRe      = regexp.MustCompile(`(?:[A-Za-z0-9_]+-)?[0-9]{6,}\.[0-9]+`)
	chanSeqRe = regexp.MustCompile(`/[^\s,]*-([0-9a-f]{8})\b`)
)

// LoadDir reads every NAME.ami in dir that has a NAME.manifest.json.
func LoadDir(dir string) ([]*Recording, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ami"))
	if err != nil {
		return nil, err
	}
	var out []*Recording
	for _, f := range files {
		base := strings.TrimSuffix(f, ".ami")
		mf, err := os.ReadFile(base + ".manifest.json")
		if err != nil {
			continue
		}
		var m struct {
			Calls []struct {
				KnownWrong map[string]string `json:"known_wrong"`
			} `json:"calls"`
		}
		if err := json.Unmarshal(mf, &m); err != nil {
			return nil, fmt.Errorf("synth: %s.manifest.json: %w", base, err)
		}
		r, err := LoadFile(f)
		if err != nil {
			return nil, err
		}
		for _, c := range m.Calls {
			if _, missing := c.KnownWrong[answerkey.Missing]; !missing {
				r.Calls++ // a call the engine publishes no status of its own for is not counted
			}
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("synth: no recordings with manifests in %s", dir)
	}
	return out, nil
}

// LoadFile reads one recording. Frames without a Timestamp (the login
// response, FullyBooted) are dropped: they belong to the session, not to
// calls.
func LoadFile(path string) (*Recording, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer fh.Close()
	r := &Recording{Name: strings.TrimSuffix(filepath.Base(path), ".ami")}
	rd := ami.NewReader(fh)
	ids := map[string]int{}
	chans := map[string]int{}
	bridges := map[string]int{}
	var t0 time.Time
	var raw [][]ami.Header
	var times []time.Time
	for {
		f, err := rd.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("synth: %s frame %d: %w", path, rd.Frames(), err)
		}
		ts, ok := f.Time()
		if !ok || f.Event() == "" {
			continue
		}
		if t0.IsZero() {
			t0 = ts
		}
		// Collect channel ids first, so values that merely mention one
		// (VarSet of a uniqueid) are rewritten consistently.
		for _, h := range f.Headers {
			if (strings.HasSuffix(h.Key, "Uniqueid") || strings.HasSuffix(h.Key, "Linkedid")) && !uuidRe.MatchString(h.Value) && idRe.MatchString(h.Value) {
				if _, ok := ids[h.Value]; !ok {
					ids[h.Value] = len(r.ids)
					r.ids = append(r.ids, h.Value)
					pfx := ""
					if i := strings.LastIndexByte(h.Value, '-'); i >= 0 {
						pfx = h.Value[:i+1]
					}
					r.idPfx = append(r.idPfx, pfx)
				}
			}
		}
		raw = append(raw, slices.Clone(f.Headers))
		times = append(times, ts)
	}
	for i, hs := range raw {
		fr := frame{at: times[i].Sub(t0), linked: -1, uniq: -1, chanStart: -1}
		var b strings.Builder
		for _, h := range hs {
			b.WriteString(h.Key)
			b.WriteString(": ")
			base := b.Len()
			v := h.Value
			if h.Key == "Event" {
				fr.event = v
			}
			if h.Key == "Timestamp" {
				fr.slots = append(fr.slots, slot{start: base, end: base + len(v), kind: slotTime})
				b.WriteString(v)
				b.WriteString("\r\n")
				continue
			}
			var ss []slot
			for _, m := range uuidRe.FindAllStringIndex(v, -1) {
				u := v[m[0]:m[1]]
				n, ok := bridges[u]
				if !ok {
					n = len(bridges)
					bridges[u] = n
				}
				ss = append(ss, slot{start: m[0], end: m[1], kind: slotBridge, idx: n})
			}
			for _, m := range idRe.FindAllStringIndex(v, -1) {
				if n, ok := ids[v[m[0]:m[1]]]; ok {
					ss = append(ss, slot{start: m[0], end: m[1], kind: slotID, idx: n})
				}
			}
			for _, m := range chanSeqRe.FindAllStringSubmatchIndex(v, -1) {
				hex := v[m[2]:m[3]]
				n, ok := chans[hex]
				if !ok {
					n = len(chans)
					chans[hex] = n
				}
				ss = append(ss, slot{start: m[2], end: m[3], kind: slotChan, idx: n})
			}
			slices.SortFunc(ss, func(a, b slot) int { return a.start - b.start })
			end := 0
			for _, s := range ss {
				if s.start < end {
					continue // overlapping match (an id inside a uuid...)
				}
				end = s.end
				s.start += base
				s.end += base
				if s.kind == slotID && h.Key == "Linkedid" {
					fr.linked = s.idx
				}
				if s.kind == slotID && h.Key == "Uniqueid" {
					fr.uniq = s.idx
				}
				fr.slots = append(fr.slots, s)
			}
			if h.Key == "Channel" {
				fr.chanStart, fr.chanEnd = base, base+len(v)
			}
			b.WriteString(v)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		fr.text = b.String()
		r.size += len(fr.text) + 8*len(fr.slots)
		r.frames = append(r.frames, fr)
	}
	if len(r.frames) == 0 {
		return nil, fmt.Errorf("synth: %s: no timestamped frames", path)
	}
	r.Duration = r.frames[len(r.frames)-1].at
	r.nChans, r.nBridge = len(chans), len(bridges)
	return r, nil
}

// Options shape a generated stream.
type Options struct {
	// Copies is the number of recording copies (cycling through the
	// recordings in name order).
	Copies int
	// Concurrency is the number of calls open at once in steady state:
	// copies start Duration/Concurrency apart (mean duration).
	Concurrency int
	// Start is the first copy's start time (default 2026-01-01 UTC).
	Start time.Time
	// OpenOnly cuts every copy before its first hangup request or hangup,
	// so all its calls are still open at the end of the stream.
	OpenOnly bool
}

// Stream is a generated AMI byte stream and what a benchmark needs to check
// and pace it.
type Stream struct {
	Bytes []byte
	// Frames locates each frame: End is the byte offset just past it, At
	// its timestamp minus the first one.
	Frames []Mark
	// Hangups lists every Hangup frame with the channel it ends.
	Hangups []Hangup
	Copies  int
	// Calls is the number of statuses the stream must produce.
	Calls int
	// MaxOpen and MeanOpen count calls open (channels of a linked id
	// created and not all hung up), sampled at each frame.
	MaxOpen  int
	MeanOpen float64
	// Span is the time from the first to the last frame's timestamp.
	Span time.Duration
}

// Mark locates a frame in Stream.Bytes.
type Mark struct {
	End int
	At  time.Duration
	// Open is the number of calls open after this frame.
	Open int32
}

// Hangup is one Hangup frame.
type Hangup struct {
	Frame   int
	Channel string
}

// copyState is one copy being merged.
type copyState struct {
	rec    *Recording
	start  time.Time
	next   int
	limit  int
	ids    []string
	chans  []string
	bridge []string
}

func (c *copyState) at() time.Time { return c.start.Add(c.rec.frames[c.next].at) }

type copyHeap []*copyState

func (h copyHeap) Len() int           { return len(h) }
func (h copyHeap) Less(i, j int) bool { return h[i].at().Before(h[j].at()) }
func (h copyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *copyHeap) Push(x any)        { *h = append(*h, x.(*copyState)) }
func (h *copyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Generate builds a stream from recs.
func Generate(recs []*Recording, opt Options) (*Stream, error) {
	if len(recs) == 0 {
		return nil, errors.New("synth: no recordings")
	}
	if opt.Copies <= 0 {
		return nil, errors.New("synth: Copies must be positive")
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 1
	}
	if opt.Start.IsZero() {
		opt.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	var total time.Duration
	var calls int
	for _, r := range recs {
		total += r.Duration
		calls += r.Calls
	}
	// Copies of one recording overlap by design; calls per copy are
	// counted so that Concurrency means calls, not copies.
	meanCalls := float64(calls) / float64(len(recs))
	gap := time.Duration(float64(total) / float64(len(recs)) * meanCalls / float64(opt.Concurrency))
	if gap <= 0 {
		gap = time.Microsecond
	}

	st := &Stream{Copies: opt.Copies}
	var (
		buf      bytes.Buffer
		h        copyHeap
		nextCopy int
		idSeq    uint64 = 1000
		chanSeq  uint32
		brSeq    uint64
		open     = map[string]int{}    // linked id -> channels alive
		chanOf   = map[string]string{} // unique id -> linked id at creation
		openSum  float64
		first    time.Time
		scratch  []byte
	)
	// Size the buffer once: growing a slice of hundreds of megabytes
	// copies and clears it again and again.
	size := 0
	for k := range opt.Copies {
		size += recs[k%len(recs)].size
	}
	buf.Grow(size + size/16)
	newCopy := func(k int) *copyState {
		r := recs[k%len(recs)]
		c := &copyState{rec: r, start: opt.Start.Add(time.Duration(k) * gap), limit: len(r.frames)}
		sec := c.start.Unix()
		c.ids = make([]string, len(r.ids))
		for i := range r.ids {
			idSeq++
			c.ids[i] = r.idPfx[i] + strconv.FormatInt(sec, 10) + "." + strconv.FormatUint(idSeq, 10)
		}
		c.chans = make([]string, r.nChans)
		for i := range c.chans {
			chanSeq++
			c.chans[i] = fmt.Sprintf("%08x", chanSeq)
		}
		c.bridge = make([]string, r.nBridge)
		for i := range c.bridge {
			brSeq++
			c.bridge[i] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(brSeq), uint16(k), k%4096, brSeq%4096, brSeq)
		}
		if opt.OpenOnly {
			for i, f := range r.frames {
				if f.event == "Hangup" || f.event == "HangupRequest" || f.event == "SoftHangupRequest" {
					c.limit = i
					break
				}
			}
		}
		if c.limit == 0 {
			return nil
		}
		st.Calls += r.Calls
		return c
	}
	for nextCopy < opt.Copies || h.Len() > 0 {
		// Open the copies whose start has come before the next frame.
		for nextCopy < opt.Copies && (h.Len() == 0 || !opt.Start.Add(time.Duration(nextCopy)*gap).After(h[0].at())) {
			if c := newCopy(nextCopy); c != nil {
				heap.Push(&h, c)
			}
			nextCopy++
		}
		if h.Len() == 0 {
			continue
		}
		c := h[0]
		f := &c.rec.frames[c.next]
		at := c.at()
		if first.IsZero() {
			first = at
		}
		// Render the frame.
		pos := 0
		chanName := ""
		for _, s := range f.slots {
			buf.WriteString(f.text[pos:s.start])
			switch s.kind {
			case slotTime:
				scratch = strconv.AppendInt(scratch[:0], at.Unix(), 10)
				scratch = append(scratch, '.')
				us := at.Nanosecond() / 1000
				scratch = append(scratch, byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
					byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10))
				buf.Write(scratch)
			case slotID:
				buf.WriteString(c.ids[s.idx])
			case slotChan:
				buf.WriteString(c.chans[s.idx])
			case slotBridge:
				buf.WriteString(c.bridge[s.idx])
			}
			pos = s.end
		}
		buf.WriteString(f.text[pos:])
		if f.chanStart >= 0 && f.event == "Hangup" {
			chanName = renderRange(f, c, f.chanStart, f.chanEnd)
		}
		idx := len(st.Frames)
		st.Frames = append(st.Frames, Mark{End: buf.Len(), At: at.Sub(first)})
		if f.linked >= 0 && f.uniq >= 0 {
			u := c.ids[f.uniq]
			switch f.event {
			case "Newchannel":
				l := c.ids[f.linked]
				chanOf[u] = l
				open[l]++
			case "Hangup":
				if l, ok := chanOf[u]; ok {
					delete(chanOf, u)
					if open[l]--; open[l] <= 0 {
						delete(open, l)
					}
				}
			}
		}
		if f.event == "Hangup" {
			st.Hangups = append(st.Hangups, Hangup{Frame: idx, Channel: chanName})
		}
		st.Frames[idx].Open = int32(len(open))
		st.MaxOpen = max(st.MaxOpen, len(open))
		openSum += float64(len(open))

		c.next++
		if c.next >= c.limit {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	st.Bytes = buf.Bytes()
	if n := len(st.Frames); n > 0 {
		st.MeanOpen = openSum / float64(n)
		st.Span = st.Frames[n-1].At
	}
	return st, nil
}

// renderRange renders text[start:end] of f with c's slot values.
func renderRange(f *frame, c *copyState, start, end int) string {
	var b strings.Builder
	pos := start
	for _, s := range f.slots {
		if s.end <= start || s.start >= end {
			continue
		}
		b.WriteString(f.text[pos:s.start])
		switch s.kind {
		case slotID:
			b.WriteString(c.ids[s.idx])
		case slotChan:
			b.WriteString(c.chans[s.idx])
		case slotBridge:
			b.WriteString(c.bridge[s.idx])
		}
		pos = s.end
	}
	b.WriteString(f.text[pos:end])
	return b.String()
}
