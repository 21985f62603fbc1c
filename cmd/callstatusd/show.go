package main

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/publish"
)

// redacted replaces secrets in `config show`.
const redacted = "<redacted>"

// dsnPassword finds the password of a libpq key=value connection string.
var dsnPassword = regexp.MustCompile(`(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// secretKeys are the last key segments whose values are secrets.
var secretKeys = map[string]bool{"password": true, "token": true, "seed": true, "nkey_seed": true, "credentials": true}

// showConfig renders cfg as YAML in the order of the config structs, with
// secrets redacted.
func showConfig(cfg adapter.Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	sections := map[string]*yaml.Node{"": root}
	var section func(key string) *yaml.Node
	section = func(key string) *yaml.Node {
		if n, ok := sections[key]; ok {
			return n
		}
		parent, name := "", key
		if i := strings.LastIndex(key, "."); i >= 0 {
			parent, name = key[:i], key[i+1:]
		}
		n := &yaml.Node{Kind: yaml.MappingNode}
		p := section(parent)
		p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, n)
		sections[key] = n
		return n
	}
	walkConfig("", reflect.ValueOf(cfg), func(key string, v reflect.Value) {
		parent, name := "", key
		if i := strings.LastIndex(key, "."); i >= 0 {
			parent, name = key[:i], key[i+1:]
		}
		p := section(parent)
		p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, valueNode(name, v))
	})
	var buf bytes.Buffer
	buf.WriteString("# callstatusd effective configuration (secrets redacted)\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("config show: %w", err)
	}
	enc.Close()
	return buf.Bytes(), nil
}

func valueNode(name string, v reflect.Value) *yaml.Node {
	if secretKeys[name] && !v.IsZero() {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: redacted, Style: yaml.DoubleQuotedStyle}
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: d.String()}
	}
	switch v.Kind() {
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			n.Content = append(n.Content, valueNode("", v.Index(i)))
		}
		return n
	case reflect.String:
		val := v.String()
		if strings.Contains(val, "@") && strings.Contains(val, "://") {
			// nats://user:pass@host (or token@host) in a URL list.
			val = publish.RedactURLs([]string{val})
		}
		// A libpq key=value DSN (backfill.dsn): password=... in it.
		val = dsnPassword.ReplaceAllString(val, "${1}"+redacted)
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
		switch strings.ToLower(v.String()) {
		case "on", "off", "yes", "no", "y", "n":
			n.Style = yaml.DoubleQuotedStyle // YAML 1.1 readers take these for booleans
		}
		return n
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Float64, reflect.Float32:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v.Interface())}
}
