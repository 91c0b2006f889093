package protocol

import (
	"hash/maphash"
	"testing"
)

// frame300 is a realistic 300-byte device event.
var frame300 = []byte(`{"type":"update_loop_status","loop_status":{"status":"PROCESSING_API_RESPONSE","active_run_ids":["local-run-2"],"executing_tool_call_ids":[]},"runtime":{"agent_id":"agent-00000000-0000-4000-8000-000000000001","conversation_id":"default"},"event_seq":17,"emitted_at":"2026-11-28T17:06:52.626Z","idempotency_key":"update_loop_status:17:ee59b6c2-4f1a"}`)

func BenchmarkParse300(b *testing.B) {
	var e Envelope
	b.SetBytes(int64(len(frame300)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := DefaultModel.ParseInto(&e, frame300); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}

// BenchmarkContentHash300 hashes a 300-byte event for redelivery
// detection (the checker does it for every event with an idempotency_key).
func BenchmarkContentHash300(b *testing.B) {
	seed := maphash.MakeSeed()
	b.SetBytes(int64(len(frame300)))
	b.ReportAllocs()
	for b.Loop() {
		ContentHash(seed, frame300)
	}
}
