package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxFrameSize bounds a frame when Reader.MaxFrameSize is zero. A
// channel event with a dozen channel variables is a few KiB; a megabyte is
// only reached by garbage or by a runaway command output.
const DefaultMaxFrameSize = 1 << 20

// ErrFrameTooLarge is returned (wrapped) for a frame larger than
// MaxFrameSize. The frame has been skipped up to its blank line, so the
// next ReadFrame starts at the next frame: the error is not fatal.
var ErrFrameTooLarge = errors.New("ami: frame too large")

// bannerPrefix starts the line Asterisk writes once on connect, before any
// frame and without a blank line after it.
const bannerPrefix = "Asterisk Call Manager/"

// endCommand ends the output of the pre-Asterisk-14 "Response: Follows"
// command format, whose body may contain blank lines.
const endCommand = "--END COMMAND--"

// Reader reads AMI frames from a byte stream.
type Reader struct {
	// MaxFrameSize bounds the bytes of one frame; 0 means
	// DefaultMaxFrameSize.
	MaxFrameSize int

	br     *bufio.Reader
	banner string

	buf   []byte // the current frame's bytes, as read
	spans []span // its headers, as offsets into buf
	long  []byte // a line longer than the bufio buffer, assembled

	frames    uint64
	malformed uint64

	// reuse, when set, is the header array of a frame its caller is done
	// with: the next frame's headers go there (see readFrameReusing).
	reuse []Header
}

// span locates one header in Reader.buf. key is set instead of ks/ke when
// the key is a well-known one, so the translator can switch on it.
type span struct {
	key            string
	ks, ke, vs, ve int32 // a frame is at most maxFrameLimit bytes
}

// maxFrameLimit caps MaxFrameSize so that offsets fit in an int32.
const maxFrameLimit = 1 << 30

// NewReader returns a Reader on r. When r is already a *bufio.Reader it is
// used as is, so bytes it has buffered (for example after a login
// exchange) are not lost.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{br: br}
}

// Banner returns the "Asterisk Call Manager/x.y.z" line once it has been
// read (by ReadBanner, or by ReadFrame at the start of a frame), else "".
func (r *Reader) Banner() string { return r.banner }

// Frames returns how many frames were read so far: those returned and
// those skipped for their size.
func (r *Reader) Frames() uint64 { return r.frames }

// MalformedLines returns how many lines without a colon were dropped.
func (r *Reader) MalformedLines() uint64 { return r.malformed }

// ReadBanner reads the greeting line Asterisk sends on connect. It must be
// called before the first ReadFrame on a live connection, because the banner
// is not followed by a blank line and ReadFrame would wait for one.
func (r *Reader) ReadBanner() (string, error) {
	line, err := r.readLine()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("ami: read banner: %w", err)
	}
	s := strings.TrimSpace(string(line))
	if !strings.HasPrefix(s, bannerPrefix) {
		return "", fmt.Errorf("ami: read banner: want %q..., got %q", bannerPrefix, truncate(s, 64))
	}
	r.banner = s
	return s, nil
}

// ReadFrame returns the next non-empty frame. It returns io.EOF at a clean
// end of stream, io.ErrUnexpectedEOF (with the partial frame) when the stream
// ends inside a frame, and an error wrapping ErrFrameTooLarge for an
// oversized frame (after which reading may continue). Other errors come
// from the underlying reader.
func (r *Reader) ReadFrame() (Frame, error) {
	max := r.MaxFrameSize
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	max = min(max, maxFrameLimit)
	if r.br.Buffered() == 0 {
		// Wait for data here rather than in ReadSlice, so the fast path
		// sees what arrived.
		if _, err := r.br.Peek(1); err != nil && r.br.Buffered() == 0 {
			return Frame{}, err
		}
	}
	if f, ok := r.fast(max); ok {
		return f, nil
	}
	return r.slow(max)
}

// fast takes a whole frame straight from the bytes already buffered: one
// copy into the frame's string, no per-line calls into bufio. It handles
// only ordinary frames (every line a header, frame complete in the buffer,
// within max); anything else is left, unconsumed, to slow.
func (r *Reader) fast(max int) (Frame, bool) {
	data, _ := r.br.Peek(r.br.Buffered())
	r.spans = r.spans[:0]
	start, pos := 0, 0
	for {
		nl := bytes.IndexByte(data[pos:], '\n')
		if nl < 0 {
			return Frame{}, false
		}
		next := pos + nl + 1
		content := trimEOL(data[pos:next])
		if isBlank(content) {
			if len(r.spans) == 0 {
				start, pos = next, next // leading blank lines
				continue
			}
			s := string(data[start:pos])
			r.br.Discard(next)
			return r.frame(s, 0), true
		}
		if next-start > max {
			return Frame{}, false
		}
		colon := bytes.IndexByte(content, ':')
		if colon <= 0 {
			return Frame{}, false
		}
		r.spans = append(r.spans, headerSpan(content, pos-start, colon))
		if len(r.spans) == 1 && r.spans[0].key == "Response" && string(bytes.TrimSpace(content[colon+1:])) == "Follows" {
			return Frame{}, false
		}
		pos = next
	}
}

// readFrameReusing is ReadFrame for a caller that is done with the frame
// whose headers are hs: they are overwritten with the next frame's, which
// saves an allocation per frame. The frame's text (and every string taken
// from it) is still new for each frame, so events built from the previous
// frame stay valid.
func (r *Reader) readFrameReusing(hs []Header) (Frame, error) {
	r.reuse = hs
	f, err := r.ReadFrame()
	r.reuse = nil
	return f, err
}

// slow reads a frame line by line. It handles everything: frames larger
// than the buffer, Follows output, banners, malformed lines, oversized
// frames and the end of the stream.
func (r *Reader) slow(max int) (Frame, error) {
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
	var (
		lines     int  // non-blank lines in this frame
		malformed int  // lines without a colon
		follows   bool // "Response: Follows": ends at --END COMMAND--
		output    bool // inside the body of a Follows frame
		tooLarge  bool // skipping to the end of an oversized frame
		size      int  // bytes of this frame, also counted while skipping
	)
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF {
				if lines == 0 && !tooLarge && len(line) == 0 {
					return Frame{}, io.EOF
				}
				if tooLarge {
					return Frame{}, io.ErrUnexpectedEOF
				}
				f := r.frame(string(r.buf), malformed)
				return f, io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		content := trimEOL(line)
		blank := isBlank(content)
		if blank && !output {
			if lines == 0 {
				continue // the extra blank of "\r\n\n" endings, or leading noise
			}
			break
		}
		size += len(line)
		if size > max {
			if !tooLarge {
				tooLarge = true
				r.buf = r.buf[:0]
				r.spans = r.spans[:0]
			}
		}
		lines++
		if tooLarge {
			if follows && bytes.HasSuffix(content, []byte(endCommand)) {
				break
			}
			continue
		}
		if follows && bytes.HasSuffix(content, []byte(endCommand)) {
			if pre := content[:len(content)-len(endCommand)]; len(pre) > 0 {
				r.addOutput(line, pre)
			}
			break
		}
		if output {
			r.addOutput(line, content)
			continue
		}
		colon := bytes.IndexByte(content, ':')
		if colon <= 0 {
			if lines == 1 && bytes.HasPrefix(content, []byte(bannerPrefix)) {
				// A banner in the middle of a stream: a recording of
				// several sessions, or a reconnect spliced in.
				r.banner = string(bytes.TrimSpace(content))
				lines = 0
				size = 0
				continue
			}
			if follows {
				output = true
				r.addOutput(line, content)
				continue
			}
			malformed++
			continue
		}
		r.addHeader(line, content, colon)
		if lines == 1 && r.spans[0].key == "Response" && string(bytes.TrimSpace(content[colon+1:])) == "Follows" {
			follows = true
		}
	}
	if tooLarge {
		r.frames++ // skipped, but it was there: later frames keep their place
		r.malformed += uint64(malformed)
		return Frame{}, fmt.Errorf("%w: more than %d bytes (%d read), skipped", ErrFrameTooLarge, max, size)
	}
	return r.frame(string(r.buf), malformed), nil
}

// frame materializes the current frame from its bytes s and r.spans: one
// string for all bytes, one slice for the headers.
func (r *Reader) frame(s string, malformed int) Frame {
	r.frames++
	r.malformed += uint64(malformed)
	hs := r.reuse[:0]
	r.reuse = nil
	if cap(hs) >= len(r.spans) {
		hs = hs[:len(r.spans)]
	} else {
		hs = make([]Header, len(r.spans), max(len(r.spans), 32))
	}
	for i, sp := range r.spans {
		k := sp.key
		if k == "" {
			k = s[sp.ks:sp.ke]
		}
		hs[i] = Header{Key: k, Value: s[sp.vs:sp.ve]}
	}
	return Frame{Headers: hs, Malformed: malformed, Seq: r.frames, raw: s}
}

// addHeader appends line to the frame and records its key and value.
// content is line without its line ending; colon indexes the first ':'.
func (r *Reader) addHeader(line, content []byte, colon int) {
	base := len(r.buf)
	r.buf = append(r.buf, line...)
	r.spans = append(r.spans, headerSpan(content, base, colon))
}

// headerSpan locates key and value of the header line content (without
// its line ending) that starts at offset base of the frame; colon indexes
// its first ':'. Spaces and tabs around key and value are not part of them.
func headerSpan(content []byte, base, colon int) span {
	ks, ke := 0, colon
	for ks < ke && (content[ks] == ' ' || content[ks] == '\t') {
		ks++
	}
	for ke > ks && (content[ke-1] == ' ' || content[ke-1] == '\t') {
		ke--
	}
	vs, ve := colon+1, len(content)
	for vs < ve && (content[vs] == ' ' || content[vs] == '\t') {
		vs++
	}
	for ve > vs && (content[ve-1] == ' ' || content[ve-1] == '\t') {
		ve--
	}
	return span{
		key: internKey(content[ks:ke]),
		ks:  int32(base + ks), ke: int32(base + ke),
		vs: int32(base + vs), ve: int32(base + ve),
	}
}

// addOutput records one line of a Follows command body as an "Output"
// header, the name Asterisk 14+ uses for the same lines.
func (r *Reader) addOutput(line, content []byte) {
	base := len(r.buf)
	r.buf = append(r.buf, line...)
	r.spans = append(r.spans, span{key: "Output", vs: int32(base), ve: int32(base + len(content))})
}

// readLine returns the next line including its '\n'. The slice is valid
// until the next read. At end of stream it returns what is left with
// io.EOF.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	// Longer than the bufio buffer: assemble it, but never beyond the
	// frame limit plus one buffer, so garbage without newlines cannot
	// grow memory without bound.
	limit := r.MaxFrameSize
	if limit <= 0 {
		limit = DefaultMaxFrameSize
	}
	limit = min(limit, maxFrameLimit)
	r.long = append(r.long[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = r.br.ReadSlice('\n')
		if len(r.long) <= limit {
			r.long = append(r.long, line...)
		}
	}
	return r.long, err
}

// trimEOL removes a trailing "\n" or "\r\n" (and any stray '\r' before it).
func trimEOL(line []byte) []byte {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	for n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// internKey returns the canonical spelling of a well-known header key, or ""
// when the key is not one of them. Matching ignores case. Asterisk always
// sends the canonical spelling, so an exact switch (which the compiler
// turns into a length-then-content search, with no allocation) answers
// nearly every call; only a miss pays for lowering the key.
func internKey(b []byte) string {
	if k := canonicalKey(b); k != "" {
		return k
	}
	var up [32]byte
	if len(b) > len(up) {
		return ""
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return foldedKey(up[:len(b)])
}

// canonicalKey matches b exactly against the well-known keys.
func canonicalKey(b []byte) string {
	switch string(b) {
	case "Event":
		return "Event"
	case "Privilege":
		return "Privilege"
	case "Timestamp":
		return "Timestamp"
	case "SystemName":
		return "SystemName"
	case "Response":
		return "Response"
	case "ActionID":
		return "ActionID"
	case "Message":
		return "Message"
	case "Channel":
		return "Channel"
	case "ChannelState":
		return "ChannelState"
	case "ChannelStateDesc":
		return "ChannelStateDesc"
	case "CallerIDNum":
		return "CallerIDNum"
	case "CallerIDName":
		return "CallerIDName"
	case "ConnectedLineNum":
		return "ConnectedLineNum"
	case "ConnectedLineName":
		return "ConnectedLineName"
	case "Language":
		return "Language"
	case "AccountCode":
		return "AccountCode"
	case "Context":
		return "Context"
	case "Exten":
		return "Exten"
	case "Priority":
		return "Priority"
	case "Uniqueid":
		return "Uniqueid"
	case "Linkedid":
		return "Linkedid"
	case "Tenantid":
		return "Tenantid"
	case "ChanVariable":
		return "ChanVariable"
	case "DestChannel":
		return "DestChannel"
	case "DestChannelState":
		return "DestChannelState"
	case "DestChannelStateDesc":
		return "DestChannelStateDesc"
	case "DestCallerIDNum":
		return "DestCallerIDNum"
	case "DestCallerIDName":
		return "DestCallerIDName"
	case "DestConnectedLineNum":
		return "DestConnectedLineNum"
	case "DestConnectedLineName":
		return "DestConnectedLineName"
	case "DestLanguage":
		return "DestLanguage"
	case "DestAccountCode":
		return "DestAccountCode"
	case "DestContext":
		return "DestContext"
	case "DestExten":
		return "DestExten"
	case "DestPriority":
		return "DestPriority"
	case "DestUniqueid":
		return "DestUniqueid"
	case "DestLinkedid":
		return "DestLinkedid"
	case "Cause":
		return "Cause"
	case "Cause-txt":
		return "Cause-txt"
	case "TechCause":
		return "TechCause"
	case "DialString":
		return "DialString"
	case "DialStatus":
		return "DialStatus"
	case "BridgeUniqueid":
		return "BridgeUniqueid"
	case "BridgeType":
		return "BridgeType"
	case "BridgeTechnology":
		return "BridgeTechnology"
	case "BridgeCreator":
		return "BridgeCreator"
	case "BridgeName":
		return "BridgeName"
	case "BridgeNumChannels":
		return "BridgeNumChannels"
	case "BridgeVideoSourceMode":
		return "BridgeVideoSourceMode"
	case "Queue":
		return "Queue"
	case "Position":
		return "Position"
	case "Count":
		return "Count"
	case "HoldTime":
		return "HoldTime"
	case "Reason":
		return "Reason"
	case "Variable":
		return "Variable"
	case "Value":
		return "Value"
	case "Extension":
		return "Extension"
	case "Application":
		return "Application"
	case "AppData":
		return "AppData"
	case "UserEvent":
		return "UserEvent"
	case "Output":
		return "Output"
	case "Interface":
		return "Interface"
	case "MemberName":
		return "MemberName"
	case "RingTime":
		return "RingTime"
	case "TalkTime":
		return "TalkTime"
	case "OriginalPosition":
		return "OriginalPosition"
	case "ApplicationData":
		return "ApplicationData"
	case "BridgeId":
		return "BridgeId"
	case "Duration":
		return "Duration"
	case "Status":
		return "Status"
	case "Result":
		return "Result"
	case "EventList":
		return "EventList"
	case "SwapUniqueid":
		return "SwapUniqueid"
	case "Forward":
		return "Forward"
	case "DestChanVariable":
		return "DestChanVariable"
	}
	return ""
}

// foldedKey matches an upper-cased key against the well-known keys.
func foldedKey(b []byte) string {
	switch string(b) {
	case "EVENT":
		return "Event"
	case "PRIVILEGE":
		return "Privilege"
	case "TIMESTAMP":
		return "Timestamp"
	case "SYSTEMNAME":
		return "SystemName"
	case "RESPONSE":
		return "Response"
	case "ACTIONID":
		return "ActionID"
	case "MESSAGE":
		return "Message"
	case "CHANNEL":
		return "Channel"
	case "CHANNELSTATE":
		return "ChannelState"
	case "CHANNELSTATEDESC":
		return "ChannelStateDesc"
	case "CALLERIDNUM":
		return "CallerIDNum"
	case "CALLERIDNAME":
		return "CallerIDName"
	case "CONNECTEDLINENUM":
		return "ConnectedLineNum"
	case "CONNECTEDLINENAME":
		return "ConnectedLineName"
	case "LANGUAGE":
		return "Language"
	case "ACCOUNTCODE":
		return "AccountCode"
	case "CONTEXT":
		return "Context"
	case "EXTEN":
		return "Exten"
	case "PRIORITY":
		return "Priority"
	case "UNIQUEID":
		return "Uniqueid"
	case "LINKEDID":
		return "Linkedid"
	case "TENANTID":
		return "Tenantid"
	case "CHANVARIABLE":
		return "ChanVariable"
	case "DESTCHANNEL":
		return "DestChannel"
	case "DESTCHANNELSTATE":
		return "DestChannelState"
	case "DESTCHANNELSTATEDESC":
		return "DestChannelStateDesc"
	case "DESTCALLERIDNUM":
		return "DestCallerIDNum"
	case "DESTCALLERIDNAME":
		return "DestCallerIDName"
	case "DESTCONNECTEDLINENUM":
		return "DestConnectedLineNum"
	case "DESTCONNECTEDLINENAME":
		return "DestConnectedLineName"
	case "DESTLANGUAGE":
		return "DestLanguage"
	case "DESTACCOUNTCODE":
		return "DestAccountCode"
	case "DESTCONTEXT":
		return "DestContext"
	case "DESTEXTEN":
		return "DestExten"
	case "DESTPRIORITY":
		return "DestPriority"
	case "DESTUNIQUEID":
		return "DestUniqueid"
	case "DESTLINKEDID":
		return "DestLinkedid"
	case "CAUSE":
		return "Cause"
	case "CAUSE-TXT":
		return "Cause-txt"
	case "TECHCAUSE":
		return "TechCause"
	case "DIALSTRING":
		return "DialString"
	case "DIALSTATUS":
		return "DialStatus"
	case "BRIDGEUNIQUEID":
		return "BridgeUniqueid"
	case "BRIDGETYPE":
		return "BridgeType"
	case "BRIDGETECHNOLOGY":
		return "BridgeTechnology"
	case "BRIDGECREATOR":
		return "BridgeCreator"
	case "BRIDGENAME":
		return "BridgeName"
	case "BRIDGENUMCHANNELS":
		return "BridgeNumChannels"
	case "BRIDGEVIDEOSOURCEMODE":
		return "BridgeVideoSourceMode"
	case "QUEUE":
		return "Queue"
	case "POSITION":
		return "Position"
	case "COUNT":
		return "Count"
	case "HOLDTIME":
		return "HoldTime"
	case "REASON":
		return "Reason"
	case "VARIABLE":
		return "Variable"
	case "VALUE":
		return "Value"
	case "EXTENSION":
		return "Extension"
	case "APPLICATION":
		return "Application"
	case "APPDATA":
		return "AppData"
	case "USEREVENT":
		return "UserEvent"
	case "OUTPUT":
		return "Output"
	case "INTERFACE":
		return "Interface"
	case "MEMBERNAME":
		return "MemberName"
	case "RINGTIME":
		return "RingTime"
	case "TALKTIME":
		return "TalkTime"
	case "ORIGINALPOSITION":
		return "OriginalPosition"
	case "APPLICATIONDATA":
		return "ApplicationData"
	case "BRIDGEID":
		return "BridgeId"
	case "DURATION":
		return "Duration"
	case "STATUS":
		return "Status"
	case "RESULT":
		return "Result"
	case "EVENTLIST":
		return "EventList"
	case "SWAPUNIQUEID":
		return "SwapUniqueid"
	case "FORWARD":
		return "Forward"
	case "DESTCHANVARIABLE":
		return "DestChanVariable"
	}
	return ""
}
