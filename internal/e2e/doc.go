// Package e2e holds end-to-end tests that wire the whole toolkit together:
// the simulator and the reference client with their fault knobs, the
// recording proxy between them, and the checker on the trace, so that the
// checker is measured against the exact ground truth of injected faults.
package e2e
