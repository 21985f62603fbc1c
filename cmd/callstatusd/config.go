package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
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

// addConfigFlags declares --config and the override flags on fs.
func addConfigFlags(fs *pflag.FlagSet) {
	d := defaultConfig()
	fs.StringP("config", "c", "", "config file (default: ./callstatusd.yaml, then /etc/callstatusd/callstatusd.yaml)")
	fs.String("pbx-id", d.Mapping.PBXID, "PBX id in call ids and subjects (mapping.pbx_id)")
	fs.String("data-dir", d.DataDir, "state directory (data_dir)")
	fs.String("log-level", d.Log.Level, "debug, info, warn or error (log.level)")
	fs.String("log-format", d.Log.Format, "text or json (log.format)")
	fs.String("ami-address", d.AMI.Address, "AMI host:port (ami.address)")
	fs.String("ari-url", d.ARI.URL, "ARI base URL (ari.url)")
	fs.StringSlice("nats-url", nil, "external NATS URLs; none runs the embedded server (nats.urls)")
	fs.String("http-listen", d.HTTP.Listen, "host:port for /healthz, /readyz, /metrics; empty disables (http.listen)")
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
// does not validate; it rejects keys the daemon does not know. It returns
// the file it read ("" for none).
func loadConfig(fs *pflag.FlagSet) (adapter.Config, string, error) {
	var cfg adapter.Config
	v := viper.New()
	v.SetConfigType("yaml")
	known := map[string]bool{}
	setDefaults(v, "", reflect.ValueOf(defaultConfig()), known)

	file := ""
	if fs != nil {
		file, _ = fs.GetString("config")
	}
	if file == "" {
		for _, p := range searchPaths {
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return cfg, file, fmt.Errorf("config %s: %w", file, err)
		}
		if err := unknownKeys(v, known); err != nil {
			return cfg, file, fmt.Errorf("config %s: %w", file, err)
		}
	}

	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	if fs != nil {
		for name, key := range flagKeys {
			if f := fs.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return cfg, file, fmt.Errorf("config: flag --%s: %w", name, err)
				}
			}
		}
	}
	if err := v.UnmarshalExact(&cfg); err != nil {
		where := "config"
		if file != "" {
			where = "config " + file
		}
		return cfg, file, fmt.Errorf("%s: %s", where, tidyDecodeError(err, v))
	}
	return cfg, file, nil
}

// tidyDecodeError turns mapstructure's report ("decoding failed due to the
// following error(s):\n\n'engine.sweep_interval' time: invalid duration")
// into one line per key with the offending value.
func tidyDecodeError(err error, v *viper.Viper) string {
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "'") {
			continue
		}
		key, msg, ok := strings.Cut(line[1:], "' ")
		if !ok {
			out = append(out, line)
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s, got %q", key, msg, fmt.Sprint(v.Get(key))))
	}
	if len(out) == 0 {
		return err.Error()
	}
	return strings.Join(out, "; ")
}

// loadValid loads and validates.
func loadValid(fs *pflag.FlagSet) (adapter.Config, string, error) {
	cfg, file, err := loadConfig(fs)
	if err != nil {
		return cfg, file, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, file, err
	}
	return cfg, file, nil
}

// setDefaults gives viper a default for every leaf key of the config:
// without one, viper's Unmarshal ignores the environment for that key.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value, known map[string]bool) {
	walkConfig(prefix, rv, func(key string, val reflect.Value) {
		known[key] = true
		v.SetDefault(key, val.Interface())
	})
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

// unknownKeys names the first key in the file that the daemon does not
// know (a typo would otherwise be ignored silently).
func unknownKeys(v *viper.Viper, known map[string]bool) error {
	var bad []string
	for _, k := range v.AllKeys() {
		if known[k] {
			continue
		}
		section := false
		for kk := range known {
			if strings.HasPrefix(kk, k+".") {
				section = true
				break
			}
		}
		if !section {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return errors.New("unknown key " + strings.Join(quoteAll(bad), ", "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
