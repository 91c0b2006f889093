package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// connection the proxy relayed (100 concurrent sessions among them) must
// have ended with its goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
