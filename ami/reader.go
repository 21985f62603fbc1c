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
}

// span locates one header in Reader.buf. key is set instead of ks/ke when
// the key is a well-known one, so the translator can switch on it.
type span struct {
	key            string
	ks, ke, vs, ve int
}

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

// Frames returns how many frames were returned so far.
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
				f := r.frame(malformed)
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
		r.malformed += uint64(malformed)
		return Frame{}, fmt.Errorf("%w: more than %d bytes (%d read), skipped", ErrFrameTooLarge, max, size)
	}
	return r.frame(malformed), nil
}

// frame materializes the current frame: one string for all bytes, one slice
// for the headers.
func (r *Reader) frame(malformed int) Frame {
	r.frames++
	r.malformed += uint64(malformed)
	s := string(r.buf)
	hs := make([]Header, len(r.spans))
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
	r.spans = append(r.spans, span{
		key: internKey(content[ks:ke]),
		ks:  base + ks, ke: base + ke,
		vs: base + vs, ve: base + ve,
	})
}

// addOutput records one line of a Follows command body as an "Output"
// header, the name Asterisk 14+ uses for the same lines.
func (r *Reader) addOutput(line, content []byte) {
	base := len(r.buf)
	r.buf = append(r.buf, line...)
	r.spans = append(r.spans, span{key: "Output", vs: base, ve: base + len(content)})
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
// when the key is not one of them. Matching ignores case: the key is
// lowered into a stack buffer and looked up by a switch, which the compiler
// turns into a length-then-content search with no allocation.
func internKey(b []byte) string {
	var low [32]byte
	if len(b) > len(low) {
		return ""
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	switch string(low[:len(b)]) {
	case "event":
		return "Event"
	case "privilege":
		return "Privilege"
	case "timestamp":
		return "Timestamp"
	case "systemname":
		return "SystemName"
	case "response":
		return "Response"
	case "actionid":
		return "ActionID"
	case "message":
		return "Message"
	case "channel":
		return "Channel"
	case "channelstate":
		return "ChannelState"
	case "channelstatedesc":
		return "ChannelStateDesc"
	case "calleridnum":
		return "CallerIDNum"
	case "calleridname":
		return "CallerIDName"
	case "connectedlinenum":
		return "ConnectedLineNum"
	case "connectedlinename":
		return "ConnectedLineName"
	case "language":
		return "Language"
	case "accountcode":
		return "AccountCode"
	case "context":
		return "Context"
	case "exten":
		return "Exten"
	case "priority":
		return "Priority"
	case "uniqueid":
		return "Uniqueid"
	case "linkedid":
		return "Linkedid"
	case "tenantid":
		return "Tenantid"
	case "chanvariable":
		return "ChanVariable"
	case "destchannel":
		return "DestChannel"
	case "destchannelstate":
		return "DestChannelState"
	case "destchannelstatedesc":
		return "DestChannelStateDesc"
	case "destcalleridnum":
		return "DestCallerIDNum"
	case "destcalleridname":
		return "DestCallerIDName"
	case "destconnectedlinenum":
		return "DestConnectedLineNum"
	case "destconnectedlinename":
		return "DestConnectedLineName"
	case "destlanguage":
		return "DestLanguage"
	case "destaccountcode":
		return "DestAccountCode"
	case "destcontext":
		return "DestContext"
	case "destexten":
		return "DestExten"
	case "destpriority":
		return "DestPriority"
	case "destuniqueid":
		return "DestUniqueid"
	case "destlinkedid":
		return "DestLinkedid"
	case "cause":
		return "Cause"
	case "cause-txt":
		return "Cause-txt"
	case "techcause":
		return "TechCause"
	case "dialstring":
		return "DialString"
	case "dialstatus":
		return "DialStatus"
	case "bridgeuniqueid":
		return "BridgeUniqueid"
	case "bridgetype":
		return "BridgeType"
	case "bridgetechnology":
		return "BridgeTechnology"
	case "bridgecreator":
		return "BridgeCreator"
	case "bridgename":
		return "BridgeName"
	case "bridgenumchannels":
		return "BridgeNumChannels"
	case "bridgevideosourcemode":
		return "BridgeVideoSourceMode"
	case "queue":
		return "Queue"
	case "position":
		return "Position"
	case "count":
		return "Count"
	case "holdtime":
		return "HoldTime"
	case "reason":
		return "Reason"
	case "variable":
		return "Variable"
	case "value":
		return "Value"
	case "extension":
		return "Extension"
	case "application":
		return "Application"
	case "appdata":
		return "AppData"
	case "userevent":
		return "UserEvent"
	case "output":
		return "Output"
	}
	return ""
}
