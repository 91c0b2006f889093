package main

import (
	"net/http"

	"github.com/gorilla/websocket"
)

// dialRaw opens a single-socket status WebSocket through the proxy at addr.
func dialRaw(addr string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{"Authorization": {"Bearer tok"}}
	return websocket.DefaultDialer.Dial("ws://"+addr+"/v1/environments/conn-sim-1/status/ws?agentId=a&conversationId=default", h)
}
