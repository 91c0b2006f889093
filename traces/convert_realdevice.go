//go:build ignore

// convert_realdevice turns the real-device recordings of
// shared/protocol/real-device (frames seen by a stub relay talking to
// Letta Code 0.32.18) into wsproxy traces, so that tests and the checker
// can use them. The stub stood in for the relay and the remote client
// behind it: it sent the commands, so its frames are recorded as "client"
// and the device's as "server", as a proxy between them would have. The
// header's source is "import".
//
//	go run traces/convert_realdevice.go ../shared/protocol/real-device/paired-full.jsonl traces/real-device-paired-full.jsonl.zst
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

type line struct {
	TMs    int64             `json:"t_ms"`
	Dir    string            `json:"dir"`
	Conn   string            `json:"conn"`
	Ch     string            `json:"ch"`
	Event  string            `json:"event"`
	Code   int               `json:"code"`
	Reason string            `json:"reason"`
	Query  map[string]string `json:"query"`
	Frame  json.RawMessage   `json:"frame"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run convert_realdevice.go IN.jsonl OUT.jsonl.zst")
		os.Exit(2)
	}
	if err := convert(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func convert(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []line
	agent := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("%s line %d: %w", in, n, err)
		}
		if agent == "" && len(l.Frame) > 0 {
			if e, err := protocol.Parse(l.Frame); err == nil && len(e.AgentID) > 0 {
				agent = string(e.AgentID)
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	base := time.Date(2026, 11, 28, 17, 4, 0, 0, time.UTC)
	w, err := recorder.Create(out, recorder.Options{})
	if err != nil {
		return err
	}
	w.Write(trace.NewHeader("convert_realdevice", "1", "import", base))
	sockets := map[string]string{} // conn/channel -> socket id
	n := 0
	socket := func(l line) string {
		ch := l.Ch
		if ch == "" {
			ch = protocol.ChannelNameSingle
		}
		key := l.Conn + "/" + ch
		if s, ok := sockets[key]; ok {
			return s
		}
		n++
		s := fmt.Sprintf("s%d", n)
		sockets[key] = s
		openRecord(w, base.Add(time.Duration(l.TMs)*time.Millisecond), s, l.Conn, ch, agent)
		return s
	}
	for _, l := range lines {
		t := base.Add(time.Duration(l.TMs) * time.Millisecond)
		switch {
		case l.Dir == "lifecycle" && l.Event == "ws_open":
			delete(sockets, l.Conn+"/"+l.Ch)
			socket(l)
		case l.Dir == "lifecycle" && (l.Event == "ws_close" || l.Event == "close"):
			s := socket(l)
			w.Write(&trace.Record{Kind: trace.KindClose, T: t, Conn: s, By: trace.Client, Code: l.Code, Reason: l.Reason})
			delete(sockets, l.Conn+"/"+l.Ch)
		case len(l.Frame) > 0:
			from := trace.Server
			if l.Dir == "stub->device" || l.Dir == "client->server" {
				from = trace.Client
			}
			w.Write(&trace.Record{Kind: trace.KindFrame, T: t, Conn: socket(l), From: from, Op: trace.OpText,
				Payload: l.Frame, Size: len(l.Frame)})
		}
	}
	return w.Close()
}

func openRecord(w *recorder.Writer, t time.Time, socket, conn, channel, agent string) {
	u := "/ws"
	if conn != "" {
		q := url.Values{"agentId": {agent}, "conversationId": {"default"}, "channel": {channel}}
		u = protocol.StatusPathPrefix + conn + protocol.StatusPathSuffix + "?" + q.Encode()
	}
	w.Write(&trace.Record{Kind: trace.KindOpen, T: t, Conn: socket, Open: &trace.Open{
		URL: u, Upstream: "letta-code 0.32.18 (loopback stub)", Session: protocol.SessionFromURL(u)}})
}
