package protocol

import (
	"hash/maphash"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// TransportFields are the top-level members the relay adds to a frame it
// delivers (the transport "seq"): a relay redelivery of a frame differs
// from the first delivery in these only.
var TransportFields = []string{"seq"}

// VolatileFields are the members whose values differ between two runs of
// the same session by design: ids the client chooses (request_id), the
// relay's numbering (seq), the device's (event_seq, idempotency_key) and
// times (emitted_at, timestamp). A replay comparing a live peer with a
// recording ignores them.
var VolatileFields = []string{"request_id", "seq", "event_seq", "idempotency_key", "emitted_at", "timestamp"}

// IsTransportField reports whether the top-level member name is one of
// TransportFields.
func IsTransportField(name string) bool {
	for _, f := range TransportFields {
		if f == name {
			return true
		}
	}
	return false
}

// ContentHash hashes a message for redelivery detection: two deliveries
// hash alike exactly when they are identical apart from the transport
// fields, that is when they have the same top-level members other than
// TransportFields, in any order, with byte-identical values. Only the top
// level is looked at: a nested "seq" is content. Whitespace between
// top-level tokens does not count. A payload that is not a JSON object is
// hashed whole. The hash depends on seed, so compare hashes made with the
// same seed only.
//
// This is the one definition of "identical apart from transport fields":
// the checker (duplicate-idempotency-key) and the reference client (its
// redelivery dedupe) both use it.
func ContentHash(seed maphash.Seed, payload []byte) uint64 {
	var sum uint64
	o := jsonscan.NewObject(payload, 0)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			break
		}
		if transportKey(key, esc) {
			continue
		}
		// Members combine by addition, so that their order does not
		// count; mixing name and value first keeps swapped values apart.
		sum += mix(maphash.Bytes(seed, key) ^ maphash.Bytes(seed, payload[vs:ve])*0x9e3779b97f4a7c15)
	}
	if o.Err() != nil || jsonscan.SkipSpace(payload, o.End()) != len(payload) {
		return maphash.Bytes(seed, payload)
	}
	return sum
}

func transportKey(key []byte, esc bool) bool {
	for _, f := range TransportFields {
		if jsonscan.KeyEquals(key, esc, f) {
			return true
		}
	}
	return false
}

// mix is the 64-bit finalizer of MurmurHash3.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
