package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The lab's own small AMI action client. It exists so the driver does not
// depend on the daemon's AMI reader (ami/), which is what the lab tests.
// It logs in with events off and only matches responses to actions.

// Frame is one AMI message: ordered "Key: Value" lines.
type Frame []Field

// Field is one header line of a Frame.
type Field struct{ Key, Value string }

// Get returns the first value of key (case-insensitive), or "".
func (f Frame) Get(key string) string {
	for _, kv := range f {
		if strings.EqualFold(kv.Key, key) {
			return kv.Value
		}
	}
	return ""
}

// readFrame reads one frame (lines up to an empty line). raw receives the
// bytes exactly as read when not nil.
func readFrame(r *bufio.Reader, raw io.Writer) (Frame, error) {
	var f Frame
	for {
		line, err := r.ReadString('\n')
		if raw != nil && line != "" {
			if _, werr := io.WriteString(raw, line); werr != nil {
				return nil, werr
			}
		}
		if err != nil {
			if err == io.EOF && line == "" && len(f) == 0 {
				return nil, io.EOF
			}
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(f) == 0 {
				continue // stray blank line between frames
			}
			return f, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			f = append(f, Field{Key: line})
			continue
		}
		f = append(f, Field{Key: k, Value: strings.TrimSpace(v)})
	}
}

func writeAction(w io.Writer, action string, fields []Field) error {
	var b strings.Builder
	b.WriteString("Action: " + action + "\r\n")
	for _, kv := range fields {
		b.WriteString(kv.Key + ": " + kv.Value + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ErrAMIAuth is returned when Asterisk rejects the login.
var ErrAMIAuth = errors.New("authentication rejected")

// amiLogin reads the banner and logs in. events selects the event mask.
func amiLogin(conn net.Conn, r *bufio.Reader, user, pass string, events bool, raw io.Writer) error {
	if _, err := r.ReadString('\n'); err != nil { // "Asterisk Call Manager/x.y"
		return fmt.Errorf("ami: read banner: %w", err)
	}
	ev := "off"
	if events {
		ev = "on"
	}
	if err := writeAction(conn, "Login", []Field{{"ActionID", "login"}, {"Username", user}, {"Secret", pass}, {"Events", ev}}); err != nil {
		return fmt.Errorf("ami: send login: %w", err)
	}
	for {
		f, err := readFrame(r, raw)
		if err != nil {
			return fmt.Errorf("ami: login as %q: %w", user, err)
		}
		if f.Get("ActionID") != "login" {
			continue
		}
		if !strings.EqualFold(f.Get("Response"), "Success") {
			return fmt.Errorf("ami: login as %q: %w: %s", user, ErrAMIAuth, f.Get("Message"))
		}
		return nil
	}
}

// AMIClient sends actions and collects their responses, including event
// lists (CoreShowChannels). Safe for concurrent use.
type AMIClient struct {
	conn net.Conn
	mu   sync.Mutex
	next int
	wait map[string]*pending
	err  error
	done chan struct{}
	// onEvent sees every frame that is not an action's answer.
	onEvent func(Frame)
}

type pending struct {
	frames []Frame
	ch     chan struct{}
}

// DialAMI connects and logs in with events off.
func DialAMI(ctx context.Context, addr, user, pass string) (*AMIClient, error) {
	return DialAMIEvents(ctx, addr, user, pass, nil)
}

// DialAMIEvents connects and logs in; with onEvent set, events are on and
// every event frame is passed to onEvent from the read goroutine.
func DialAMIEvents(ctx context.Context, addr, user, pass string, onEvent func(Frame)) (*AMIClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ami: dial %s: %w", addr, err)
	}
	r := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := amiLogin(conn, r, user, pass, onEvent != nil, nil); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	c := &AMIClient{conn: conn, wait: map[string]*pending{}, done: make(chan struct{}), onEvent: onEvent}
	go c.readLoop(r)
	return c, nil
}

func (c *AMIClient) readLoop(r *bufio.Reader) {
	defer close(c.done)
	for {
		f, err := readFrame(r, nil)
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("ami: read: %w", err)
			for id, p := range c.wait {
				close(p.ch)
				delete(c.wait, id)
			}
			c.mu.Unlock()
			return
		}
		id := f.Get("ActionID")
		c.mu.Lock()
		p := c.wait[id]
		if p == nil && c.onEvent != nil && f.Get("Event") != "" {
			c.mu.Unlock()
			c.onEvent(f)
			continue
		}
		if p != nil {
			p.frames = append(p.frames, f)
			// A list ends with "EventList: Complete"; anything else that is
			// not the start of a list is the whole answer.
			list := strings.EqualFold(p.frames[0].Get("EventList"), "start")
			if !list || strings.EqualFold(f.Get("EventList"), "Complete") {
				close(p.ch)
				delete(c.wait, id)
			}
		}
		c.mu.Unlock()
	}
}

// Action sends an action and returns the response frame followed by any
// list events. A response other than Success is an error.
func (c *AMIClient) Action(ctx context.Context, action string, fields ...Field) ([]Frame, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.next++
	id := "lab-" + strconv.Itoa(c.next)
	p := &pending{ch: make(chan struct{})}
	c.wait[id] = p
	err := writeAction(c.conn, action, append([]Field{{"ActionID", id}}, fields...))
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ami: send %s: %w", action, err)
	}
	select {
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.wait, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("ami: %s: %w", action, ctx.Err())
	case <-p.ch:
	}
	if len(p.frames) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, fmt.Errorf("ami: %s: %w", action, c.err)
	}
	if r := p.frames[0].Get("Response"); !strings.EqualFold(r, "Success") {
		return p.frames, fmt.Errorf("ami: %s: %s: %s", action, r, p.frames[0].Get("Message"))
	}
	return p.frames, nil
}

// Close logs off and closes the connection.
func (c *AMIClient) Close() error {
	c.mu.Lock()
	writeAction(c.conn, "Logoff", nil)
	c.mu.Unlock()
	err := c.conn.Close()
	<-c.done
	return err
}

// ChannelInfo is one live channel from CoreShowChannels.
type ChannelInfo struct {
	Name, UniqueID, LinkedID, State, Context, Exten, Application string
}

// Channels lists the live channels.
func (c *AMIClient) Channels(ctx context.Context) ([]ChannelInfo, error) {
	frames, err := c.Action(ctx, "CoreShowChannels")
	if err != nil {
		return nil, err
	}
	var out []ChannelInfo
	for _, f := range frames[1:] {
		if f.Get("Event") != "CoreShowChannel" {
			continue
		}
		out = append(out, ChannelInfo{
			Name: f.Get("Channel"), UniqueID: f.Get("Uniqueid"), LinkedID: f.Get("Linkedid"),
			State: f.Get("ChannelStateDesc"), Context: f.Get("Context"), Exten: f.Get("Exten"),
			Application: f.Get("Application"),
		})
	}
	return out, nil
}
