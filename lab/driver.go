package lab

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DriverConfig says how the driver reaches the lab.
type DriverConfig struct {
	// Container is the lab container (SIPp runs inside it via docker exec).
	Container string
	AMIAddr   string
	ARIURL    string // http://host:port
	// User/Pass default to the labdriver account.
	User, Pass string
	Logger     *slog.Logger
}

// Driver places scenario calls: AMI actions for originate/transfer/hangup,
// an ARI application (DriverApp) for the ARI voicemail drop, SIPp for the
// sip-* scenarios.
type Driver struct {
	cfg   DriverConfig
	ami   *AMIClient
	track *tracker
	ws    *websocket.Conn
	http  *http.Client
	log   *slog.Logger
	stop  context.CancelFunc
	done  chan struct{}

	mu     sync.Mutex
	played map[string]string // playback id -> channel id
	drops  int               // voicemail drops completed over ARI
}

// NewDriver logs in to AMI and registers the ARI application.
func NewDriver(ctx context.Context, cfg DriverConfig) (*Driver, error) {
	if cfg.User == "" {
		cfg.User, cfg.Pass = DriverUser, DriverPass
	}
	cfg.ARIURL = strings.TrimRight(cfg.ARIURL, "/")
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := newTracker()
	ami, err := DialAMIEvents(ctx, cfg.AMIAddr, cfg.User, cfg.Pass, tr.onEvent)
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	ws, err := dialARIEvents(ctx, cfg.ARIURL, cfg.User, cfg.Pass, DriverApp, false)
	if err != nil {
		ami.Close()
		return nil, fmt.Errorf("driver: %w", err)
	}
	ws.SetReadLimit(1 << 22)
	lctx, stop := context.WithCancel(context.Background())
	d := &Driver{cfg: cfg, ami: ami, ws: ws, track: tr, http: &http.Client{Timeout: 10 * time.Second},
		log: log.With("source", "driver"), stop: stop, done: make(chan struct{}), played: map[string]string{}}
	go d.stasisLoop(lctx)
	return d, nil
}

// Close stops the ARI application and logs off.
func (d *Driver) Close() error {
	d.ws.Close(websocket.StatusNormalClosure, "")
	d.stop()
	<-d.done
	return d.ami.Close()
}

// AMI exposes the driver's AMI client.
func (d *Driver) AMI() *AMIClient { return d.ami }

func dialARIEvents(ctx context.Context, base, user, pass, app string, all bool) (*websocket.Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("ari: url %q: %w", base, err)
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = "/ari/events"
	q := url.Values{"app": {app}}
	if all {
		q.Set("subscribeAll", "true")
	}
	u.RawQuery = q.Encode()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	ws, _, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, fmt.Errorf("ari: websocket %s as %q: %w", u.Redacted(), user, err)
	}
	return ws, nil
}

type ariEvent struct {
	Type    string   `json:"type"`
	Args    []string `json:"args"`
	Channel struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"channel"`
	Playback struct {
		ID        string `json:"id"`
		TargetURI string `json:"target_uri"`
	} `json:"playback"`
}

// stasisLoop is the ARI voicemail drop: a channel entering
// Stasis(callstatus-lab,vmdrop) gets sound:callstatus/vm-drop played to it
// and is hung up once the playback finished.
func (d *Driver) stasisLoop(ctx context.Context) {
	defer close(d.done)
	for {
		_, msg, err := d.ws.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				d.log.Error("ari websocket closed", "err", err)
			}
			return
		}
		var ev ariEvent
		if err := json.Unmarshal(msg, &ev); err != nil {
			d.log.Warn("ari: bad event", "err", err)
			continue
		}
		switch ev.Type {
		case "StasisStart":
			if len(ev.Args) == 0 || ev.Args[0] != "vmdrop" {
				d.ariPost(ctx, "/channels/"+ev.Channel.ID+"/continue", nil)
				continue
			}
			pb := "vmdrop-" + ev.Channel.ID
			d.mu.Lock()
			d.played[pb] = ev.Channel.ID
			d.mu.Unlock()
			if err := d.ariPost(ctx, "/channels/"+ev.Channel.ID+"/play/"+pb, url.Values{"media": {"sound:callstatus/vm-drop"}}); err != nil {
				d.log.Error("ari: play vm-drop", "channel", ev.Channel.Name, "err", err)
				d.ariPost(ctx, "/channels/"+ev.Channel.ID+"/continue", nil)
			}
		case "PlaybackFinished":
			d.mu.Lock()
			ch, ok := d.played[ev.Playback.ID]
			delete(d.played, ev.Playback.ID)
			if ok {
				d.drops++
			}
			d.mu.Unlock()
			if ok {
				// The message is left: hang up the far end, as a dialer does.
				if err := d.ariDo(ctx, "DELETE", "/channels/"+ch, nil); err != nil {
					d.log.Warn("ari: hang up after vm-drop", "err", err)
				}
			}
		}
	}
}

// ARIDrops is how many voicemail drops the ARI application completed.
func (d *Driver) ARIDrops() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drops
}

func (d *Driver) ariPost(ctx context.Context, path string, q url.Values) error {
	return d.ariDo(ctx, "POST", path, q)
}

func (d *Driver) ariDo(ctx context.Context, method, path string, q url.Values) error {
	u := d.cfg.ARIURL + "/ari" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(d.cfg.User, d.cfg.Pass)
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("ari: %s %s: %w", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ari: %s %s: %s", method, path, resp.Status)
	}
	return nil
}

// originate is one AMI Originate (always async).
type originate struct {
	Channel     string
	Context     string // with Exten: where the answered channel goes
	Exten       string
	Application string // or an application to run once answered
	Data        string
	CallerID    string
	Timeout     time.Duration // how long the originated channel may ring
	Vars        []string      // NAME=value
}

func (d *Driver) originate(ctx context.Context, o originate) error {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	f := []Field{{"Channel", o.Channel}, {"Async", "true"}, {"Timeout", fmt.Sprint(o.Timeout.Milliseconds())}}
	if o.CallerID != "" {
		f = append(f, Field{"CallerID", o.CallerID})
	}
	if o.Application != "" {
		f = append(f, Field{"Application", o.Application}, Field{"Data", o.Data})
	} else {
		f = append(f, Field{"Context", o.Context}, Field{"Exten", o.Exten}, Field{"Priority", "1"})
	}
	for _, v := range o.Vars {
		f = append(f, Field{"Variable", v})
	}
	if _, err := d.ami.Action(ctx, "Originate", f...); err != nil {
		return fmt.Errorf("originate %s: %w", o.Channel, err)
	}
	return nil
}

// WaitIdle waits until Asterisk has no channels at all.
func (d *Driver) WaitIdle(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		chans, err := d.ami.Channels(ctx)
		if err != nil {
			return err
		}
		if len(chans) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("asterisk not idle (%d channels, e.g. %s): %w", len(chans), chans[0].Name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
