// Package labrules holds the mapping rules of the lab dialplan, apart from
// the lab itself (which drives Docker and NATS), so that engine tests can
// use them without linking either.
package labrules

import "github.com/callstatus/callstatus/mapping"

// PBXID names the lab PBX in call ids and subjects.
const PBXID = "lab"

// Rules are the mapping rules for the lab dialplan: the defaults, plus the
// simulated carrier that Local-channel scenarios dial (Local/NUMBER@carrier),
// which a real PBX would reach through a PJSIP trunk already matched by the
// default trunk patterns.
func Rules() mapping.Config {
	cfg := mapping.DefaultConfig()
	cfg.PBXID = PBXID
	cfg.TrunkChannels = append(cfg.TrunkChannels, "Local/*@carrier-*")
	// The lab's ARI application plays drops when started with "vmdrop".
	cfg.VMDropStasisApps = []string{"callstatus-lab,vmdrop*"}
	return cfg
}
