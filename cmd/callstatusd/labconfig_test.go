package main

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/callstatus/callstatus/lab"
)

// The lab config (used by make demo) runs the lab's rules and both sources.
func TestLabConfigMatchesLabRules(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addConfigFlags(fs)
	fs.Set("config", "../../lab/callstatusd.lab.yaml")
	cfg, _, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Mapping, lab.Rules()) {
		t.Errorf("mapping:\n got %+v\nwant %+v", cfg.Mapping, lab.Rules())
	}
	if !cfg.AMI.Enabled || !cfg.ARI.Enabled || cfg.AMI.Username != lab.DaemonUser || cfg.AMI.Password != lab.DaemonPass ||
		cfg.ARI.Username != lab.DaemonUser || cfg.ARI.Password != lab.DaemonPass {
		t.Errorf("sources: ami %+v ari %+v", cfg.AMI, cfg.ARI)
	}
	if cfg.HTTP.Listen != "127.0.0.1:9180" || len(cfg.NATS.URLs) != 0 || cfg.NATS.Embedded.Port != 4222 {
		t.Errorf("http %q nats urls %v port %d", cfg.HTTP.Listen, cfg.NATS.URLs, cfg.NATS.Embedded.Port)
	}
}
