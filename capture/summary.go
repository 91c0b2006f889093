package capture

import (
	"fmt"
	"io"
	"strings"
)

// Summary is what an import found in a capture.
type Summary struct {
	File   string
	Format Format
	// Packets and Bytes count the packets read and their captured bytes;
	// TCPPackets those that carried TCP.
	Packets, Bytes, TCPPackets int64
	// Connections are the WebSocket connections imported, in the order
	// of their conn ids.
	Connections []ConnSummary
	// HTTP counts the plain HTTP exchanges recorded (http records h1, …).
	HTTP int
	// Skipped are the TCP connections not imported, with the reason (the
	// first maxSkippedKept; SkippedMore counts the others).
	Skipped     []Skip
	SkippedMore int64
	// Warnings are about the capture itself (damaged packets,
	// unsupported link types); Cut is set when the file ends inside a
	// packet.
	Warnings []string
	Cut      *CutError
	// Outputs are the trace files written (by Import).
	Outputs []string
	// Records counts the records written, header excluded.
	Records int64

	warned map[string]int
}

// maxSkippedKept bounds the skipped connections a Summary lists.
const maxSkippedKept = 1000

// maxSkippedShown bounds the skipped connections WriteText lists.
const maxSkippedShown = 20

// maxSameWarning bounds repeats of one kind of warning.
const maxSameWarning = 5

func (s *Summary) warn(msg string) {
	if s.warned == nil {
		s.warned = map[string]int{}
	}
	key := msg
	if i := strings.Index(msg, ": packet "); i >= 0 {
		key = msg[:i]
	}
	s.warned[key]++
	switch n := s.warned[key]; {
	case n <= maxSameWarning:
		s.Warnings = append(s.Warnings, msg)
	case n == maxSameWarning+1:
		s.Warnings = append(s.Warnings, key+": more warnings like the above not shown")
	}
}

// ConnSummary describes one imported connection. Arrays are indexed
// client 0, server 1.
type ConnSummary struct {
	Conn           string
	Client, Server string
	URL            string
	Recovered      bool
	// Refused is true for an upgrade the server refused (an http record).
	Refused      bool
	Frames       [2]int64
	PayloadBytes [2]int64
	WireBytes    [2]int64
	Errors       int
	// Lost describes segments lost (each stops a direction's records).
	Lost []string
	// RecoverNotes say what a recovered connection's resynchronisation
	// skipped.
	RecoverNotes []string
	// Note says how the connection ended when it is worth saying.
	Note string

	num int // the number in Conn, for ordering
}

// Skip is a TCP connection that was not imported.
type Skip struct {
	Conn   string // conn id when it had one (an upgrade seen), else ""
	Flow   string // client → server, as far as known
	Reason string
}

// WriteText writes the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	refused := 0
	for _, c := range s.Connections {
		if c.Refused {
			refused++
		}
	}
	fmt.Fprintf(w, "%s: %s, %s (%s), %s imported", s.File, s.Format, plural(s.Packets, "packet"), humanBytes(s.Bytes),
		plural(int64(len(s.Connections)-refused), "WebSocket connection"))
	if refused > 0 {
		fmt.Fprintf(w, ", %s", plural(int64(refused), "refused upgrade"))
	}
	if s.HTTP > 0 {
		fmt.Fprintf(w, ", %s", plural(int64(s.HTTP), "plain HTTP exchange"))
	}
	fmt.Fprintf(w, ", %s skipped\n", plural(int64(len(s.Skipped))+s.SkippedMore, "TCP connection"))
	for _, c := range s.Connections {
		rec := ""
		if c.Recovered {
			rec = " (recovered: handshake not in the capture)"
		}
		url := c.URL
		if url == "" {
			url = "(unknown URL)"
		}
		fmt.Fprintf(w, "  %-4s %s → %s %s%s\n", c.Conn, c.Client, c.Server, url, rec)
		if !c.Refused {
			fmt.Fprintf(w, "       client: %s, %s payload, %s on the wire; server: %s, %s payload, %s on the wire",
				plural(c.Frames[0], "frame"), humanBytes(c.PayloadBytes[0]), humanBytes(c.WireBytes[0]), plural(c.Frames[1], "frame"), humanBytes(c.PayloadBytes[1]), humanBytes(c.WireBytes[1]))
			if c.Errors > 0 {
				fmt.Fprintf(w, "; %s", plural(int64(c.Errors), "error record"))
			}
			fmt.Fprintln(w)
		}
		for _, n := range c.RecoverNotes {
			fmt.Fprintf(w, "       %s\n", n)
		}
		for _, l := range c.Lost {
			fmt.Fprintf(w, "       %s\n", l)
		}
		if c.Note != "" {
			fmt.Fprintf(w, "       %s\n", c.Note)
		}
	}
	for i, k := range s.Skipped {
		if i == maxSkippedShown {
			fmt.Fprintf(w, "  … and %d more TCP connections skipped\n", int64(len(s.Skipped)-i)+s.SkippedMore)
			break
		}
		id := ""
		if k.Conn != "" {
			id = k.Conn + " "
		}
		fmt.Fprintf(w, "  skipped %s%s: %s\n", id, k.Flow, k.Reason)
	}
	for _, m := range s.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", m)
	}
	if s.Cut != nil {
		fmt.Fprintf(w, "  warning: %v\n", s.Cut)
	}
	for _, o := range s.Outputs {
		fmt.Fprintf(w, "  wrote %s\n", o)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 10<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
