package protocol_test

import (
	"testing"

	"github.com/lettadev/wsproxy/protocol"
)

func env(t *testing.T, s string) *protocol.Envelope {
	t.Helper()
	e, err := protocol.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestPending(t *testing.T) {
	p := protocol.NewPending[string, int](2)
	read := env(t, `{"type":"read_file","request_id":"r1","path":"/x"}`)
	if waits, tracked, _ := p.Command("c1", read, 1); !waits || !tracked {
		t.Fatal("read_file does not wait for its reply")
	}
	if waits, _, _ := p.Command("c1", env(t, `{"type":"ack","seq":1}`), 0); waits {
		t.Fatal("an ack waits for a reply")
	}
	if waits, _, _ := p.Command("c1", env(t, `{"type":"list_models"}`), 0); waits {
		t.Fatal("a command without request_id waits")
	}
	// Not its reply: another type, another connection.
	if _, ok := p.Reply("c1", env(t, `{"type":"list_models_response","request_id":"r1"}`)); ok {
		t.Fatal("list_models_response answered read_file")
	}
	if _, ok := p.Reply("c2", env(t, `{"type":"read_file_response","request_id":"r1"}`)); ok {
		t.Fatal("a reply on another connection answered")
	}
	q, ok := p.Reply("c1", env(t, `{"type":"read_file_response","request_id":"r1","success":true}`))
	if !ok || q.Data != 1 || q.Info.Name != "read_file" || p.Len() != 0 {
		t.Fatalf("reply: %+v %v, %d waiting", q, ok, p.Len())
	}
	// A reused request_id replaces the waiting request; the bound holds.
	p.Command("c1", read, 2)
	if _, _, old := p.Command("c1", read, 3); old == nil || old.Data != 2 {
		t.Fatalf("reuse replaced %v", old)
	}
	p.Command("c1", env(t, `{"type":"list_models","request_id":"m1"}`), 4)
	if waits, tracked, _ := p.Command("c2", env(t, `{"type":"list_models","request_id":"m2"}`), 5); !waits || tracked {
		t.Fatal("the bound of 2 did not hold")
	}
	var closed []int
	p.Close("c1", func(q protocol.PendingRequest[int]) { closed = append(closed, q.Data) })
	if len(closed) != 2 || p.Len() != 0 {
		t.Fatalf("closed %v, %d waiting", closed, p.Len())
	}
}
