package lab

import (
	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
)

// PBXID names the lab PBX in call ids and subjects.
const PBXID = labrules.PBXID

// Rules are the mapping rules for the lab dialplan (see labrules.Rules).
func Rules() mapping.Config { return labrules.Rules() }
