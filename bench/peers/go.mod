module github.com/callstatus/callstatus/bench/peers

go 1.26.8

replace github.com/callstatus/callstatus => ../..

require (
	github.com/callstatus/callstatus v0.0.0-00010101000000-000000000000
	github.com/heltonmarx/goami v1.0.1-0.20250407084856-13fa30bbc4e3
	github.com/staskobzar/goami2 v1.7.6
)
