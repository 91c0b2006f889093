package capture_test

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/lettadev/wsproxy/capture"
	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/wsframe"
)

// A capture read as records: the handshake is the open record (the token
// redacted), then the frames through the wire tap.
func ExampleSource() {
	c := pcapgen.NewConn("127.0.0.1:50000", "127.0.0.1:8765", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), pcapgen.SLL2)
	c.Handshake()
	c.Send(true, pcapgen.UpgradeRequest("127.0.0.1:8765", "/v1/environments/conn-1/status/ws?channel=control&token=secret"))
	c.Send(false, pcapgen.UpgradeResponse())
	c.Send(false, pcapgen.Frame(false, true, wsframe.OpText, false, []byte(`{"type":"update_loop_status"}`), [4]byte{}))
	c.Close(true)
	var pcap bytes.Buffer
	if err := pcapgen.WritePcap(&pcap, pcapgen.SLL2, true, c.Packets); err != nil {
		panic(err)
	}

	pr, err := capture.NewPacketReader(&pcap, "example.pcap")
	if err != nil {
		panic(err)
	}
	src := capture.NewSource(pr, capture.Options{})
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		switch r.Kind {
		case "open":
			fmt.Println(r.N, r.Conn, "open", r.Open.URL)
		case "frame":
			fmt.Println(r.N, r.Conn, r.From, r.Op, string(r.Payload))
		default:
			fmt.Println(r.N, r.Conn, r.Kind, r.Message)
		}
	}
	// Output:
	// 1 c1 open /v1/environments/conn-1/status/ws?channel=control&token=%5BREDACTED%5D
	// 2 c1 server text {"type":"update_loop_status"}
	// 3 c1 error client: closed the connection without a close frame
	// 4 c1 error upstream: closed the connection without a close frame
	// 5 c1 close
}
