package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/ops"
)

// envPrefix: CALLSTATUS_AMI_PASSWORD sets ami.password.
const envPrefix = "CALLSTATUS"

// searchPaths are tried in order when --config is not given.
var searchPaths = []string{"callstatusd.yaml", "/etc/callstatusd/callstatusd.yaml"}

// flagKeys maps command-line flags to the config keys they override.
var flagKeys = map[string]string{
	"pbx-id":      "mapping.pbx_id",
	"data-dir":    "data_dir",
	"log-level":   "log.level",
	"log-format":  "log.format",
	"ami-address": "ami.address",
	"ari-url":     "ari.url",
	"nats-url":    "nats.urls",
	"http-listen": "http.listen",
}

// addConfigFlags declares --config and the override flags on fs: all of
// them, or only those named in only ("config" for --config alone), so
// each command shows the flags it uses and no other.
func addConfigFlags(fs *pflag.FlagSet, only ...string) {
	d := defaultConfig()
	want := func(name string) bool { return len(only) == 0 || slices.Contains(only, name) }
	if want("config") {
		fs.StringP("config", "c", "", "config file (default: ./callstatusd.yaml, then /etc/callstatusd/callstatusd.yaml)")
	}
	if want("pbx-id") {
		fs.String("pbx-id", d.Mapping.PBXID, "PBX id in call ids and subjects (mapping.pbx_id)")
	}
	if want("data-dir") {
		fs.String("data-dir", d.DataDir, "state directory (data_dir)")
	}
	if want("log-level") {
		fs.String("log-level", d.Log.Level, "debug, info, warn or error (log.level)")
	}
	if want("log-format") {
		fs.String("log-format", d.Log.Format, "text or json (log.format)")
	}
	if want("ami-address") {
		fs.String("ami-address", d.AMI.Address, "AMI host:port (ami.address)")
	}
	if want("ari-url") {
		fs.String("ari-url", d.ARI.URL, "ARI base URL (ari.url)")
	}
	if want("nats-url") {
		fs.StringSlice("nats-url", nil, "external NATS URLs; none runs the embedded server (nats.urls)")
	}
	if want("http-listen") {
		fs.String("http-listen", d.HTTP.Listen, "host:port for /healthz, /readyz, /metrics; empty disables (http.listen)")
	}
}

// defaultConfig is the library's defaults plus what only the command
// turns on: the operations HTTP server (a library user or a test must not
// take a fixed port unasked).
func defaultConfig() adapter.Config {
	c := adapter.DefaultConfig()
	c.HTTP.Listen = ops.DefaultHTTPListen
	return c
}

// loadConfig reads defaults, then the file, then CALLSTATUS_* variables,
// then flags (each overriding the one before) into an adapter.Config. It
// does not validate; it refuses what it would misread: unknown keys and
// variables, and values of the wrong type (every one of them, each
// naming its place). It returns the file it read ("" for none).
func loadConfig(fs *pflag.FlagSet) (adapter.Config, string, error) {
	l := loadLayers(fs, os.Environ())
	return l.cfg, l.file, errors.Join(l.errs...)
}

// loadValid loads and validates, and reports every problem of both steps.
func loadValid(fs *pflag.FlagSet) (adapter.Config, string, error) {
	return loadChecked(fs, adapter.Config.Validate)
}

// loadChecked loads and checks with check (a command that uses part of
// the config checks that part), and reports every problem of both steps,
// each with its place.
func loadChecked(fs *pflag.FlagSet, check func(adapter.Config) error) (adapter.Config, string, error) {
	l := loadLayers(fs, os.Environ())
	if l.unread {
		return l.cfg, l.file, errors.Join(l.errs...)
	}
	errs := append(l.errs, l.place(check(l.cfg))...)
	sortByLine(errs, l.file)
	return l.cfg, l.file, errors.Join(errs...)
}

// sortByLine puts the errors that name a line of file in the file's order,
// and the others (environment, flags, keys the file does not set) after,
// as they came.
func sortByLine(errs []error, file string) {
	pos := func(e error) (int, int) {
		var pe placeError
		if !errors.As(e, &pe) || file == "" || !strings.HasPrefix(pe.where, file+":") {
			return math.MaxInt, 0
		}
		var line, col int
		fmt.Sscanf(pe.where[len(file)+1:], "%d:%d", &line, &col)
		return line, col
	}
	sort.SliceStable(errs, func(i, j int) bool {
		li, ci := pos(errs[i])
		lj, cj := pos(errs[j])
		return li < lj || (li == lj && ci < cj)
	})
}

// loaded is a config with where each value came from.
type loaded struct {
	cfg  adapter.Config
	file string
	errs []error
	// where a key's value (or a list item's, "nats.urls[1]") was set:
	// "file:line:col", "CALLSTATUS_X" or "--flag".
	where map[string]string
	bad   map[string]bool // keys (or sections) whose value was refused
	// unread: the file does not parse.
	unread bool
}

func loadLayers(fs *pflag.FlagSet, environ []string) loaded {
	s := newSchema()
	l := loaded{where: map[string]string{}, bad: map[string]bool{}}
	v := viper.New()
	walkConfig("", reflect.ValueOf(defaultConfig()), func(key string, val reflect.Value) {
		// A default for every key; viper's Unmarshal skips keys without.
		v.SetDefault(key, val.Interface())
	})

	if fs != nil && fs.Lookup("config") != nil {
		l.file, _ = fs.GetString("config")
	}
	if l.file == "" {
		for _, p := range searchPaths {
			if _, err := os.Stat(p); err == nil {
				l.file = p
				break
			}
		}
	}
	layers := []layer{}
	if l.file != "" {
		data, err := os.ReadFile(l.file)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("config: %w", err))
			l.unread = true
			return l
		}
		layers = append(layers, decodeFile(l.file, data, s))
	}
	layers = append(layers, decodeEnv(environ, s))
	for _, ly := range layers {
		l.errs = append(l.errs, ly.errs...)
		if err := v.MergeConfigMap(nest(ly.values)); err != nil {
			l.errs = append(l.errs, fmt.Errorf("config: %w", err))
		}
		for k := range ly.values {
			l.forget(k) // a later layer sets the whole value, list items included
		}
		for k, w := range ly.where {
			l.where[k] = w
		}
		for k := range ly.bad {
			l.bad[k] = true
		}
		l.unread = l.unread || ly.unread
	}

	if fs != nil {
		for name, key := range flagKeys {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			if err := v.BindPFlag(key, f); err != nil {
				l.errs = append(l.errs, fmt.Errorf("config: flag --%s: %w", name, err))
			}
			if f.Changed {
				l.forget(key)
				l.where[key] = "--" + name
			}
		}
	}
	if err := v.UnmarshalExact(&l.cfg); err != nil {
		// The layers were type-checked already: this is a bug here.
		l.errs = append(l.errs, fmt.Errorf("config: %w", err))
	}
	return l
}

// forget drops where key (and each of its list items) was set.
func (l loaded) forget(key string) {
	delete(l.where, key)
	for i := 0; ; i++ {
		ik := fmt.Sprintf("%s[%d]", key, i)
		if _, ok := l.where[ik]; !ok {
			return
		}
		delete(l.where, ik)
	}
}

// nest turns {"ami.address": x} into {"ami": {"address": x}} for viper.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	for key, val := range flat {
		m := out
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = val
	}
	return out
}

// leadingKey finds the key a validation error is about: errors start
// with it ("nats.urls[1] must be a URL ...").
var leadingKey = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*(\[[0-9]+\])?`)

// place splits a validation error into its parts and prefixes each with
// where the key it names was set, so a file's error names the file and
// the line. An error about a key whose value was refused while decoding
// is dropped: the decoding error said it already.
func (l loaded) place(err error) []error {
	var out []error
	for _, e := range flatten(err) {
		key := leadingKey.FindString(e.Error())
		base, _, _ := strings.Cut(key, "[")
		if l.refused(base) {
			continue
		}
		where, ok := l.where[key]
		if !ok {
			where, ok = l.where[base]
		}
		if !ok {
			where = l.file // a key the file does not set: name the file
		}
		out = append(out, placeError{where, e})
	}
	return out
}

// refused reports whether key's value, or its section, was refused.
func (l loaded) refused(key string) bool {
	for k := key; k != ""; k = parent(k) {
		if l.bad[k] {
			return true
		}
	}
	return false
}

// flatten lists the errors inside errors.Join, however nested.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// walkConfig calls leaf for each leaf of a config struct, by its dotted
// mapstructure key, in field order. Structs nest (",squash" flattens);
// durations, slices and scalars are leaves.
func walkConfig(prefix string, rv reflect.Value, leaf func(key string, v reflect.Value)) {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		fv := rv.Field(i)
		if opts == "squash" {
			walkConfig(prefix, fv, leaf)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
			walkConfig(key, fv, leaf)
			continue
		}
		leaf(key, fv)
	}
}
