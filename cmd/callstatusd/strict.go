package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The config file and the environment are decoded here, strictly: a
// value is taken only when it cannot be misread. viper then layers what
// they hold under the flags (config.go).

// keyKind is how a leaf key's value is written.
type keyKind int

const (
	kindString keyKind = iota
	kindBool
	kindInt
	kindDuration
	kindList
)

// schema is every key the daemon knows, from the config structs.
type schema struct {
	kinds    map[string]keyKind // leaf keys: "ami.address"
	sections map[string]bool    // "ami", "ami.tls", ...
	env      map[string]string  // CALLSTATUS_AMI_ADDRESS -> ami.address
}

func newSchema() schema {
	s := schema{kinds: map[string]keyKind{}, sections: map[string]bool{}, env: map[string]string{}}
	walkConfig("", reflect.ValueOf(defaultConfig()), func(key string, v reflect.Value) {
		var k keyKind
		switch {
		case v.Type() == reflect.TypeOf(time.Duration(0)):
			k = kindDuration
		case v.Kind() == reflect.Bool:
			k = kindBool
		case v.Kind() == reflect.Int:
			k = kindInt
		case v.Kind() == reflect.String:
			k = kindString
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
			k = kindList
		default:
			// A new config field of a type the decoder does not know:
			// every test that loads a config fails here.
			panic(fmt.Sprintf("config key %s: no strict decoder for %s", key, v.Type()))
		}
		s.kinds[key] = k
		s.env[envName(key)] = key
		for p := key; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			s.sections[p] = true
		}
	})
	return s
}

// envName is the variable that sets key: ami.tls.ca_file is
// CALLSTATUS_AMI_TLS_CA_FILE.
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// notConfigEnv are CALLSTATUS_* variables that belong to the lab and the
// tests, not to the daemon (the Makefile exports the first to every
// command it runs).
func notConfigEnv(name string) bool {
	switch name {
	case "CALLSTATUS_ASTERISK_IMAGE", "CALLSTATUS_RECORDINGS":
		return true
	}
	return false
}

// layer is what one source (the file, the environment) sets.
type layer struct {
	values map[string]any    // leaf key -> typed value
	where  map[string]string // leaf key, or key[i] of a list item -> "file:line:col" or "CALLSTATUS_X"
	bad    map[string]bool   // keys (or sections) whose value was refused
	errs   []error
	// unread: the file does not parse, so checking the config it would
	// have set makes no sense.
	unread bool
}

func newLayer() layer {
	return layer{values: map[string]any{}, where: map[string]string{}, bad: map[string]bool{}}
}

// placeError is an error with the place it comes from, as nats-server
// prints config errors: "file:line:col: reason".
type placeError struct {
	where string
	err   error
}

func (e placeError) Error() string {
	if e.where == "" {
		return e.err.Error()
	}
	return e.where + ": " + e.err.Error()
}

func (e placeError) Unwrap() error { return e.err }

// yamlLine finds the line in yaml.v3's parse errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeFile reads the YAML in data strictly against s: unknown keys,
// keys set twice and values of the wrong type are errors naming
// "file:line:col".
func decodeFile(name string, data []byte, s schema) layer {
	l := newLayer()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, more yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return l // empty file
	}
	if err == nil {
		if err = dec.Decode(&more); errors.Is(err, io.EOF) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("yaml: line %d: a second document: one document per file", more.Line)
		}
	}
	if err != nil {
		l.unread = true
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			l.errs = append(l.errs, placeError{name + ":" + m[1], errors.New(m[2])})
		} else {
			l.errs = append(l.errs, placeError{name, errors.New(strings.TrimPrefix(msg, "yaml: "))})
		}
		return l
	}
	d := fileDecoder{name: name, s: s, l: &l, lines: map[string]int{}}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = resolve(root)
	switch {
	case root.Kind == yaml.MappingNode:
		d.mapping("", root)
	case isNull(root):
	default:
		d.fail(root, fmt.Errorf("the file must be a mapping of sections (ami:, nats:, ...), got %s", shown(root)))
	}
	return l
}

type fileDecoder struct {
	name  string
	s     schema
	l     *layer
	lines map[string]int // leaf key -> line it was set on
}

func (d fileDecoder) at(n *yaml.Node) string {
	return fmt.Sprintf("%s:%d:%d", d.name, n.Line, n.Column)
}

func (d fileDecoder) fail(n *yaml.Node, err error) {
	d.l.errs = append(d.l.errs, placeError{d.at(n), err})
}

func (d fileDecoder) mapping(prefix string, n *yaml.Node) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.fail(k, fmt.Errorf("a key must be a plain name, got %s", shown(k)))
			continue
		}
		if k.Tag == "!!merge" {
			d.fail(k, errors.New("merge keys (<<) are not supported: write the keys out"))
			continue
		}
		key := join(prefix, k.Value)
		if first, dup := seen[k.Value]; dup {
			if _, leaf := d.s.kinds[key]; leaf || d.s.sections[key] {
				d.fail(k, fmt.Errorf("%s is set twice (first at line %d)", key, first.Line))
			} // else: reported once as unknown
			continue
		}
		seen[k.Value] = k
		if kind, ok := d.s.kinds[key]; ok {
			d.leaf(key, kind, v)
			continue
		}
		if d.s.sections[key] {
			switch {
			case v.Kind == yaml.MappingNode:
				d.mapping(key, v)
			case isNull(v): // a section with every key commented out
			default:
				d.fail(v, fmt.Errorf("%s must be a section of keys, got %s", key, shown(v)))
				d.l.bad[key] = true
			}
			continue
		}
		msg := "unknown key " + key
		if hint := d.s.closestKey(prefix, k.Value); hint != "" {
			msg += " (did you mean " + hint + "?)"
		}
		d.fail(k, errors.New(msg))
	}
}

func (d fileDecoder) leaf(key string, kind keyKind, v *yaml.Node) {
	if first, ok := d.lines[key]; ok { // nested once, dotted once (ami.address:)
		d.fail(v, fmt.Errorf("%s is set twice (first at line %d)", key, first))
		return
	}
	d.lines[key] = v.Line
	refuse := func(err error) {
		d.fail(v, err)
		d.l.bad[key] = true
	}
	if kind == kindList {
		var list []string
		switch {
		case v.Kind == yaml.SequenceNode:
			list = make([]string, 0, len(v.Content))
			for i, item := range v.Content {
				item = resolve(item)
				ik := fmt.Sprintf("%s[%d]", key, i)
				if item.Kind != yaml.ScalarNode || isNull(item) {
					refuse(fmt.Errorf("%s must be a single value, got %s", ik, shown(item)))
					return
				}
				list = append(list, item.Value)
				d.l.where[ik] = d.at(item)
			}
		case isNull(v):
			list = []string{}
		default:
			refuse(fmt.Errorf("%s must be a list such as [a, b], got %s", key, shown(v)))
			return
		}
		d.l.values[key] = list
		d.l.where[key] = d.at(v)
		return
	}
	if v.Kind != yaml.ScalarNode {
		refuse(fmt.Errorf("%s must be a single value, got %s", key, shown(v)))
		return
	}
	val, err := scalar(key, kind, v)
	if err != nil {
		refuse(err)
		return
	}
	d.l.values[key] = val
	d.l.where[key] = d.at(v)
}

// scalar decodes one YAML scalar by the key's kind. YAML's own typing
// decides: `5` is a number (so not a duration), `"true"` is a string (so
// not a bool), `4222.9` is a float (so not an int).
func scalar(key string, kind keyKind, v *yaml.Node) (any, error) {
	tag := v.ShortTag()
	switch kind {
	case kindString:
		if tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case kindBool:
		if tag == "!!bool" {
			return strconv.ParseBool(strings.ToLower(v.Value))
		}
		return nil, fmt.Errorf("%s must be true or false, got %s%s", key, shown(v), quoted(v))
	case kindInt:
		if tag == "!!int" || (tag == "!!float" && isDigits(v.Value)) {
			return parseInt(key, strings.ReplaceAll(v.Value, "_", ""), 0, shown(v))
		}
		return nil, fmt.Errorf("%s must be an integer, got %s%s", key, shown(v), quoted(v))
	case kindDuration:
		switch tag {
		case "!!int", "!!float":
			return bareDuration(key, v.Value)
		case "!!str":
			return parseDuration(key, v.Value, shown(v))
		}
		return nil, fmt.Errorf("%s must be a duration such as 500ms, 5s or 4h, got %s", key, shown(v))
	}
	return nil, fmt.Errorf("%s: no decoder", key)
}

func parseInt(key, s string, base int, got string) (any, error) {
	n, err := strconv.ParseInt(s, base, strconv.IntSize)
	if errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%s is out of range, got %s", key, got)
	}
	if err != nil {
		return nil, fmt.Errorf("%s must be an integer, got %s", key, got)
	}
	return int(n), nil
}

// bareDuration refuses a number without a unit (it would be
// nanoseconds), except 0, which is 0 in every unit.
func bareDuration(key, s string) (any, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == 0 {
		return time.Duration(0), nil
	}
	return nil, fmt.Errorf("%s needs a unit: write %ss (or %sms, %sm), got %s", key, s, s, s, s)
}

func parseDuration(key, s, got string) (any, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return bareDuration(key, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("%s must be a duration such as 500ms, 5s or 4h, got %s", key, got)
	}
	return d, nil
}

var digits = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

func isDigits(s string) bool { return digits.MatchString(s) }

// decodeEnv takes the CALLSTATUS_* variables of environ by the same rules
// as the file. A CALLSTATUS_* variable that sets no key is an error naming
// the closest one (a typo would otherwise be ignored).
func decodeEnv(environ []string, s schema) layer {
	l := newLayer()
	sort.Strings(environ)
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix+"_") || notConfigEnv(name) {
			continue
		}
		key, ok := s.env[name]
		if !ok {
			l.errs = append(l.errs, placeError{"", errors.New(s.closestEnv(name))})
			continue
		}
		v, err := envValue(key, s.kinds[key], val)
		if err != nil {
			l.errs = append(l.errs, placeError{name, err})
			l.bad[key] = true
			continue
		}
		l.values[key] = v
		l.where[key] = name
	}
	return l
}

// envValue reads one variable: true or false, a base-10 integer, a
// duration with its unit, a comma list.
func envValue(key string, kind keyKind, s string) (any, error) {
	got := strconv.Quote(s)
	switch kind {
	case kindBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%s must be true or false, got %s", key, got)
	case kindInt:
		return parseInt(key, s, 10, got)
	case kindDuration:
		return parseDuration(key, s, got)
	case kindList:
		if strings.TrimSpace(s) == "" {
			return []string{}, nil
		}
		list := strings.Split(s, ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
		return list, nil
	}
	return s, nil
}

// closestKey suggests a known key for an unknown name under prefix: a
// sibling a typo away, else a key of that name in another section.
func (s schema) closestKey(prefix, name string) string {
	best, bestD := "", -1
	consider := func(key string) {
		if parent(key) != prefix {
			return
		}
		if d := distance(strings.ToLower(name), last(key)); bestD < 0 || d < bestD {
			best, bestD = key, d
		}
	}
	for k := range s.kinds {
		consider(k)
	}
	for k := range s.sections {
		consider(k)
	}
	if bestD >= 0 && bestD <= 2+len(name)/4 {
		return best
	}
	var elsewhere []string
	for k := range s.kinds {
		if last(k) == strings.ToLower(name) {
			elsewhere = append(elsewhere, k)
		}
	}
	sort.Strings(elsewhere)
	if len(elsewhere) > 0 {
		return strings.Join(elsewhere, " or ")
	}
	return best
}

// closestEnv says which variable an unknown CALLSTATUS_* one may have
// meant.
func (s schema) closestEnv(name string) string {
	best, bestD := "", -1
	for env := range s.env {
		if d := distance(name, env); bestD < 0 || d < bestD || (d == bestD && env < best) {
			best, bestD = env, d
		}
	}
	return fmt.Sprintf("%s is not a config variable: did you mean %s (%s)?", name, best, s.env[best])
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// quoted explains why "true" or "5" is not a bool or an integer.
func quoted(n *yaml.Node) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return " (quoted, so a string)"
	}
	return ""
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// shown is a value as the user wrote it, for "got ..." in an error.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "no value"
		}
		if n.ShortTag() == "!!str" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "an alias"
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func parent(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		return key[:i]
	}
	return ""
}

func last(key string) string { return key[strings.LastIndex(key, ".")+1:] }
