module github.com/lettadev/wsproxy

go 1.26

require (
	github.com/gorilla/websocket v1.5.3
	github.com/klauspost/compress v1.20.4
)

require (
	github.com/gopacket/gopacket v1.7.7
	go.uber.org/goleak v1.3.0
)

require (
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
