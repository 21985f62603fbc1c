// Package schema holds the JSON Schemas of the published CallStatus and
// per-user message (UserLeg) and a small checker for the subset of JSON
// Schema they use, so tests can hold every published message to the
// document consumers read.
package schema

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

//go:embed callstatus.schema.json
var schemaJSON []byte

//go:embed userleg.schema.json
var userLegJSON []byte

// JSON returns the schema document (draft 2020-12).
func JSON() []byte { return slices.Clone(schemaJSON) }

// node is the subset of JSON Schema the document uses.
type node struct {
	Ref                  string           `json:"$ref"`
	Type                 string           `json:"type"`
	Enum                 []any            `json:"enum"`
	Const                any              `json:"const"`
	Required             []string         `json:"required"`
	Properties           map[string]*node `json:"properties"`
	AdditionalProperties *bool            `json:"additionalProperties"`
	Items                *node            `json:"items"`
	Format               string           `json:"format"`
	Minimum              *float64         `json:"minimum"`
	MinLength            *int             `json:"minLength"`
	Defs                 map[string]*node `json:"$defs"`
}

// Schema is the parsed document.
type Schema struct{ root *node }

// Load parses the embedded schema of the CallStatus.
func Load() (*Schema, error) { return parse("callstatus.schema.json", schemaJSON) }

// LoadUserLeg parses the embedded schema of the per-user message
// (mapping.UserLeg).
func LoadUserLeg() (*Schema, error) { return parse("userleg.schema.json", userLegJSON) }

func parse(name string, doc []byte) (*Schema, error) {
	var n node
	if err := json.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("schema: parse %s: %w", name, err)
	}
	return &Schema{root: &n}, nil
}

// Properties lists the top-level property names.
func (s *Schema) Properties() []string {
	var out []string
	for k := range s.root.Properties {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Required lists the top-level required names.
func (s *Schema) Required() []string { return slices.Clone(s.root.Required) }

// Validate checks one JSON document against the schema (types, enums,
// const, required, unknown properties, date-time, minimum, minLength).
func (s *Schema) Validate(doc []byte) error {
	var v any
	d := json.NewDecoder(strings.NewReader(string(doc)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("schema: not JSON: %w", err)
	}
	return s.check(s.root, v, "")
}

func (s *Schema) resolve(n *node) (*node, error) {
	if n.Ref == "" {
		return n, nil
	}
	name, ok := strings.CutPrefix(n.Ref, "#/$defs/")
	if !ok || s.root.Defs[name] == nil {
		return nil, fmt.Errorf("schema: unknown $ref %q", n.Ref)
	}
	return s.root.Defs[name], nil
}

func (s *Schema) check(n *node, v any, path string) error {
	n, err := s.resolve(n)
	if err != nil {
		return err
	}
	at := path
	if at == "" {
		at = "(root)"
	}
	switch n.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %T", at, v)
		}
		for _, r := range n.Required {
			if _, ok := m[r]; !ok {
				return fmt.Errorf("%s: required %q missing", at, r)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := n.Properties[k]
			if p == nil {
				if n.AdditionalProperties != nil && !*n.AdditionalProperties {
					return fmt.Errorf("%s: property %q not in schema", at, k)
				}
				continue
			}
			if err := s.check(p, m[k], path+"/"+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %T", at, v)
		}
		if n.Items != nil {
			for i, e := range a {
				if err := s.check(n.Items, e, fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want string, got %T", at, v)
		}
		if n.MinLength != nil && len(str) < *n.MinLength {
			return fmt.Errorf("%s: shorter than %d", at, *n.MinLength)
		}
		if n.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: not a date-time: %q", at, str)
			}
		}
	case "integer", "number":
		num, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want %s, got %T", at, n.Type, v)
		}
		f, err := num.Float64()
		if err != nil {
			return fmt.Errorf("%s: bad number %s", at, num)
		}
		if n.Type == "integer" {
			if _, err := num.Int64(); err != nil {
				return fmt.Errorf("%s: want integer, got %s", at, num)
			}
		}
		if n.Minimum != nil && f < *n.Minimum {
			return fmt.Errorf("%s: %s below minimum %v", at, num, *n.Minimum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %T", at, v)
		}
	}
	if n.Const != nil && fmt.Sprint(n.Const) != fmt.Sprint(v) {
		return fmt.Errorf("%s: must be %v, got %v", at, n.Const, v)
	}
	if len(n.Enum) > 0 {
		for _, e := range n.Enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				return nil
			}
		}
		return fmt.Errorf("%s: %v not one of %v", at, v, n.Enum)
	}
	return nil
}
