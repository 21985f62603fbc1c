package mapping

import "strings"

// keep returns s in a form the engine may store for the life of a call.
// Event strings are usually substrings of a whole wire frame (AMI) or
// message (ARI): storing one as is pins the entire frame, about a kilobyte,
// for as long as the call lives. Common words come back as constants, so
// keeping them allocates nothing; anything else is copied.
func keep(s string) string {
	switch s {
	case "":
		return ""
	case "Up":
		return "Up"
	case "Down":
		return "Down"
	case "Ring":
		return "Ring"
	case "Ringing":
		return "Ringing"
	case "Busy":
		return "Busy"
	case "Dialing":
		return "Dialing"
	case "ANSWER":
		return "ANSWER"
	case "NOANSWER":
		return "NOANSWER"
	case "BUSY":
		return "BUSY"
	case "CANCEL":
		return "CANCEL"
	case "CONGESTION":
		return "CONGESTION"
	case "CHANUNAVAIL":
		return "CHANUNAVAIL"
	case "RINGING":
		return "RINGING"
	case "PROGRESS":
		return "PROGRESS"
	case "PROCEEDING":
		return "PROCEEDING"
	case "Normal Clearing":
		return "Normal Clearing"
	case "User busy":
		return "User busy"
	case "No answer":
		return "No answer"
	}
	return strings.Clone(s)
}
