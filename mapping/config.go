package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config holds the rules that adapt the engine to a dialplan. The defaults fit
// common dialplans (FreePBX's from-trunk/from-pstn, the usual
// from-external/from-internal); every rule is a list so a site can add its own.
type Config struct {
	// PBXID prefixes call ids (<pbx id>:<linkedid>) so several PBXs can
	// share one subject space.
	PBXID string `mapstructure:"pbx_id" yaml:"pbx_id" json:"pbx_id"`
	// InboundContexts: a call whose originating channel starts in one of
	// these dialplan contexts came from outside.
	InboundContexts []string `mapstructure:"inbound_contexts" yaml:"inbound_contexts" json:"inbound_contexts"`
	// InternalContexts: a call whose originating channel starts here was
	// placed by an internal user (outbound, or internal when no trunk is
	// involved).
	InternalContexts []string `mapstructure:"internal_contexts" yaml:"internal_contexts" json:"internal_contexts"`
	// TrunkChannels: glob patterns (* and ?) on channel names of carrier
	// trunks. An originating channel that matches is inbound; a dialed leg
	// that matches makes an outbound call external (not internal).
	TrunkChannels []string `mapstructure:"trunk_channels" yaml:"trunk_channels" json:"trunk_channels"`
	// DirectionVariable: a channel variable the dialplan may set to
	// inbound, outbound or internal; it wins over the other rules.
	DirectionVariable string `mapstructure:"direction_variable" yaml:"direction_variable" json:"direction_variable"`
	// VMDropMedia: glob patterns on played media (ARI media URI such as
	// sound:callstatus/vm-drop, or the data of a dialplan Playback) that
	// mark a pre-recorded voicemail drop.
	VMDropMedia []string `mapstructure:"vmdrop_media" yaml:"vmdrop_media" json:"vmdrop_media"`
	// VMDropStasisApps: glob patterns on the Stasis() data ("app" or
	// "app,args") of the ARI applications that play voicemail drops. AMI
	// sees a channel of the call enter the application but not what it
	// plays: with AMI alone such a call is a drop inferred from the
	// application (ARI's playback, when ARI is on, confirms it).
	VMDropStasisApps []string `mapstructure:"vmdrop_stasis_apps" yaml:"vmdrop_stasis_apps" json:"vmdrop_stasis_apps"`
	// VMDropUserEvent: a UserEvent name the dialplan raises on a drop.
	VMDropUserEvent string `mapstructure:"vmdrop_user_event" yaml:"vmdrop_user_event" json:"vmdrop_user_event"`
	// TimeoutExits: QUEUESTATUS values that mean the queue ended the wait
	// (timeout); any other exit without an agent is an abandon.
	TimeoutExits []string `mapstructure:"timeout_exits" yaml:"timeout_exits" json:"timeout_exits"`
	// ServiceLevel: a queue visit answered within it met the service
	// level (Asterisk's queues.conf servicelevel); QueueServiceLevels
	// sets it per queue as "queue=duration". ShortAbandon: an abandon
	// within it is short (callers who gave up at once, left out of SL
	// figures by many call centres).
	ServiceLevel       time.Duration `mapstructure:"service_level" yaml:"service_level" json:"service_level"`
	QueueServiceLevels []string      `mapstructure:"queue_service_levels" yaml:"queue_service_levels" json:"queue_service_levels"`
	ShortAbandon       time.Duration `mapstructure:"short_abandon" yaml:"short_abandon" json:"short_abandon"`
	// CallTTL: a call with no event for this long is finalized as
	// incomplete by Sweep (its hangup was never reported).
	CallTTL time.Duration `mapstructure:"call_ttl" yaml:"call_ttl" json:"call_ttl"`
	// ConfirmGrace: with two sources, a call whose channels one source saw
	// hang up waits this long for the other before Sweep finalizes it.
	ConfirmGrace time.Duration `mapstructure:"confirm_grace" yaml:"confirm_grace" json:"confirm_grace"`
	// MaxCalls caps tracked calls; past it the oldest call is finalized as
	// incomplete so memory stays bounded under a flood.
	MaxCalls int `mapstructure:"max_calls" yaml:"max_calls" json:"max_calls"`
}

// DefaultConfig returns the rules that fit common dialplans.
func DefaultConfig() Config {
	return Config{
		PBXID:             "pbx",
		InboundContexts:   []string{"from-external", "from-trunk", "from-pstn", "from-did", "ext-did", "from-carrier", "incoming"},
		InternalContexts:  []string{"from-internal", "from-users", "from-phones", "internal", "from-agents"},
		TrunkChannels:     []string{"PJSIP/trunk*", "PJSIP/*trunk*", "SIP/*trunk*", "IAX2/*trunk*", "DAHDI/*"},
		DirectionVariable: "CALLSTATUS_DIRECTION",
		VMDropMedia:       []string{"*vm-drop*", "*vmdrop*", "*voicemail-drop*"},
		VMDropUserEvent:   "CallStatusVMDrop",
		TimeoutExits:      []string{"TIMEOUT", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "FULL"},
		ServiceLevel:      20 * time.Second,
		ShortAbandon:      5 * time.Second,
		CallTTL:           4 * time.Hour,
		ConfirmGrace:      5 * time.Second,
		MaxCalls:          100000,
	}
}

// Validate reports every rule that cannot work, each error naming its key.
func (c Config) Validate() error {
	var errs []error
	if err := CheckSubjectToken("mapping.pbx_id", c.PBXID); err != nil {
		errs = append(errs, err)
	}
	for _, l := range []struct {
		key  string
		list []string
	}{
		{"mapping.inbound_contexts", c.InboundContexts},
		{"mapping.internal_contexts", c.InternalContexts},
		{"mapping.trunk_channels", c.TrunkChannels},
		{"mapping.vmdrop_media", c.VMDropMedia},
		{"mapping.timeout_exits", c.TimeoutExits},
	} {
		for i, v := range l.list {
			if strings.TrimSpace(v) == "" {
				errs = append(errs, fmt.Errorf("%s[%d] must not be empty", l.key, i))
			}
		}
	}
	if n := len(c.InboundContexts) + len(c.InternalContexts); n > 255 {
		errs = append(errs, fmt.Errorf("mapping.inbound_contexts and mapping.internal_contexts hold %d contexts together, at most 255", n))
	}
	for _, ctx := range c.InboundContexts {
		for _, in := range c.InternalContexts {
			if ctx == in {
				errs = append(errs, fmt.Errorf("mapping.internal_contexts: %q is also in mapping.inbound_contexts", ctx))
			}
		}
	}
	for _, e := range c.TimeoutExits {
		if e != strings.ToUpper(e) {
			errs = append(errs, fmt.Errorf("mapping.timeout_exits must be upper-case QUEUESTATUS values, got %q", e))
		}
	}
	if c.ServiceLevel < 0 {
		errs = append(errs, fmt.Errorf("mapping.service_level must not be negative, got %s", c.ServiceLevel))
	}
	if c.ShortAbandon < 0 {
		errs = append(errs, fmt.Errorf("mapping.short_abandon must not be negative, got %s", c.ShortAbandon))
	}
	for i, q := range c.QueueServiceLevels {
		if _, _, err := parseQueueSL(q); err != nil {
			errs = append(errs, fmt.Errorf("mapping.queue_service_levels[%d]: %w", i, err))
		}
	}
	if c.CallTTL < time.Minute {
		errs = append(errs, fmt.Errorf("mapping.call_ttl must be at least 1m, got %s", c.CallTTL))
	}
	if c.ConfirmGrace < 0 {
		errs = append(errs, fmt.Errorf("mapping.confirm_grace must not be negative, got %s", c.ConfirmGrace))
	}
	if c.MaxCalls < 1 {
		errs = append(errs, fmt.Errorf("mapping.max_calls must be at least 1, got %d", c.MaxCalls))
	}
	return errors.Join(errs...)
}

// parseQueueSL reads "queue=duration".
func parseQueueSL(s string) (string, time.Duration, error) {
	q, d, ok := strings.Cut(s, "=")
	q = strings.TrimSpace(q)
	if !ok || q == "" {
		return "", 0, fmt.Errorf("must be queue=duration such as support=30s, got %q", s)
	}
	sl, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || sl < 0 {
		return "", 0, fmt.Errorf("must be queue=duration such as support=30s, got %q", s)
	}
	return q, sl, nil
}

// serviceLevel is queue's service level: its own, else the default.
func (c *Config) serviceLevel(queue string) time.Duration {
	for _, s := range c.QueueServiceLevels {
		if q, sl, err := parseQueueSL(s); err == nil && q == queue {
			return sl
		}
	}
	return c.ServiceLevel
}

// glob matches s against a pattern where * matches any run of characters
// (slashes included, unlike path.Match) and ? any one character.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

func matchAny(patterns []string, s string) bool {
	if s == "" {
		return false
	}
	for _, p := range patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
