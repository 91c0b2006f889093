package replay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// ErrNoSessions is wrapped by the error for a trace without WebSocket
// connections.
var ErrNoSessions = errors.New("no WebSocket connection in the trace")

// Index is what one pass over a trace finds: its sessions in recorded
// order and the plain HTTP answers a replay can give. It holds no frames.
type Index struct {
	// Path names the trace: its file, or its files separated by ", ".
	Path string
	// Files lists the files in order, with where their lines start.
	Files    []IndexFile
	Header   trace.Header
	Sessions []*SessionInfo
	// HTTP holds the last recorded answer to each GET path (bounded).
	HTTP []HTTPAnswer
	// Records counts the trace's records; Warnings lists bad lines and
	// a cut end (at most 20).
	Records  int64
	Warnings []string
}

// SessionInfo is one recorded session: the sockets of one connection,
// agent and conversation that were open together, at most one per
// channel (a control and a stream socket, or one single socket).
type SessionInfo struct {
	// Number is the session's 1-based place in the trace.
	Number int
	// Key is the connection, agent and conversation (no channel).
	Key   protocol.Session
	Conns []ConnInfo
	// FirstLine and LastLine bound the session's records; Start and End
	// are their times.
	FirstLine, LastLine int64
	Start, End          time.Time
	// ClientFrames and ServerFrames count the session's frames.
	ClientFrames, ServerFrames int64
}

// ConnInfo is one recorded socket.
type ConnInfo struct {
	// Conn is the trace's id for the socket ("conn").
	Conn string
	// Channel is control, stream or single.
	Channel string
	// URL is the recorded request path and query (secrets redacted).
	URL string
	// Line is the trace line of its open record (or of its first record
	// when the trace has none).
	Line int64
	// FirstSeq is the transport seq of the first server frame that has
	// one (0 when none does): a replay's numbering on the socket starts
	// there.
	FirstSeq int64
}

// HTTPAnswer is a recorded answer to a plain GET request.
type HTTPAnswer struct {
	Path        string
	Status      int
	ContentType string
	Body        []byte
	Line        int64
}

// Name returns the session's key as connection/agent/conversation, or
// the path of its socket for a session without one (an App Server's /ws).
func (s *SessionInfo) Name() string {
	if s.Key == (protocol.Session{}) {
		if len(s.Conns) > 0 && s.Conns[0].URL != "" {
			if u, err := url.Parse(s.Conns[0].URL); err == nil && u.Path != "" {
				return u.Path
			}
		}
		return "(no connection id)"
	}
	return s.Key.String()
}

// channel returns the index of the session's socket on a channel, or -1.
func (s *SessionInfo) channel(ch string) int {
	for i, c := range s.Conns {
		if c.Channel == ch {
			return i
		}
	}
	return -1
}

// ConnIDs returns the distinct connection ids of the sessions, in order.
func (x *Index) ConnIDs() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range x.Sessions {
		if id := s.Key.ConnectionID; id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Select returns the sessions named by sel (a session number, a key
// "connectionId/agentId/conversationId", or a connectionId) and holding
// the recorded connection conn; empty arguments select everything.
func (x *Index) Select(sel, conn string) ([]*SessionInfo, error) {
	var out []*SessionInfo
	for _, s := range x.Sessions {
		if sel != "" {
			n, err := strconv.Atoi(sel)
			if !(err == nil && n == s.Number) && sel != s.Key.String() && sel != s.Key.ConnectionID {
				continue
			}
		}
		if conn != "" {
			found := false
			for _, c := range s.Conns {
				found = found || c.Conn == conn
			}
			if !found {
				continue
			}
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		var names []string
		for _, s := range x.Sessions {
			var conns []string
			for _, c := range s.Conns {
				conns = append(conns, c.Conn+"("+c.Channel+")")
			}
			names = append(names, fmt.Sprintf("%d %s [%s]", s.Number, s.Name(), strings.Join(conns, " ")))
		}
		return nil, fmt.Errorf("replay: no session of %s matches session %q conn %q; sessions: %s",
			x.Path, sel, conn, strings.Join(names, "; "))
	}
	return out, nil
}

const (
	maxWarnings  = 20
	maxHTTPBytes = 8 << 20
)

// ReadIndex reads a trace once and indexes its sessions. It takes one
// file, or several (a directory stands for its trace files, in part
// order): their records form one timeline, so that a session spanning
// rotated parts is one session. Lines are numbered across the files (see
// Index.Locate). It fails on a file that is not a trace and on a trace
// without WebSocket connections.
func ReadIndex(paths ...string) (*Index, error) {
	files, errs := recorder.ExpandPaths(paths)
	if len(errs) > 0 {
		return nil, fmt.Errorf("replay: %w", errors.Join(errs...))
	}
	if len(files) == 0 {
		return nil, errors.New("replay: no trace file given")
	}
	x := &Index{Path: strings.Join(files, ", ")}
	ix := indexer{x: x}
	ix.reset()
	var base int64
	prevPart := -1
	for i, path := range files {
		r, err := recorder.Open(path)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		h := r.Header()
		if i == 0 {
			x.Header = *h
		} else if !(prevPart >= 1 && h.Part == prevPart+1) {
			// Not the next part of the same run: its connection ids are
			// its own.
			ix.reset()
		}
		prevPart = h.Part
		f := IndexFile{Path: path, Base: base}
		err = ix.read(r, base)
		r.Close()
		if err != nil {
			return nil, err
		}
		f.Lines = ix.lastLine - base
		x.Files = append(x.Files, f)
		base = ix.lastLine
	}
	if len(x.Sessions) == 0 {
		return nil, fmt.Errorf("replay: %s: %w (%d records)", x.Path, ErrNoSessions, x.Records)
	}
	return x, nil
}

// read indexes one file's records; base is added to its line numbers.
func (ix *indexer) read(r *recorder.Reader, base int64) error {
	x := ix.x
	ix.lastLine = base + 1 // the header
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *recorder.LineError
		if errors.As(err, &le) {
			x.warn(le.Error())
			ix.lastLine = base + le.Line
			continue
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		x.Records++
		rec.Line += base
		ix.lastLine = rec.Line
		ix.add(rec)
	}
	for _, w := range r.Warnings() {
		x.warn(w.String())
	}
	return nil
}

// IndexFile is one file of an index: its lines are Base+1 ... Base+Lines
// of the index's numbering.
type IndexFile struct {
	Path        string
	Base, Lines int64
}

// Locate returns the file and the line in it of line n of the index's
// numbering (the file is "" for a one-file index, whose lines are the
// file's own).
func (x *Index) Locate(n int64) (string, int64) {
	if len(x.Files) <= 1 || n <= 0 {
		return "", n
	}
	for i := len(x.Files) - 1; i >= 0; i-- {
		if f := x.Files[i]; n > f.Base {
			return f.Path, n - f.Base
		}
	}
	return x.Files[0].Path, n
}

func (x *Index) warn(s string) {
	if len(x.Warnings) < maxWarnings {
		x.Warnings = append(x.Warnings, s)
	}
}

type openConn struct {
	s      *SessionInfo
	ci     int // its place in s.Conns
	closed bool
	seq    bool // FirstSeq found
}

type indexer struct {
	x         *Index
	byConn    map[string]*openConn
	latest    map[protocol.Session]*SessionInfo
	open      map[*SessionInfo]int // sockets still open per session
	httpBytes int
	lastLine  int64
}

// reset starts a new stream: connections and sessions of earlier files
// are not continued.
func (ix *indexer) reset() {
	ix.byConn = map[string]*openConn{}
	ix.latest = map[protocol.Session]*SessionInfo{}
	ix.open = map[*SessionInfo]int{}
}

func (ix *indexer) add(rec *trace.Record) {
	switch rec.Kind {
	case trace.KindOpen:
		ix.openConn(rec, rec.Open.URL, rec.Open.Session)
	case trace.KindFrame, trace.KindClose:
		oc := ix.byConn[rec.Conn]
		if oc == nil {
			// A connection whose open record is not in the trace.
			ix.openConn(rec, "", protocol.Session{})
			oc = ix.byConn[rec.Conn]
		}
		s := oc.s
		s.LastLine, s.End = rec.Line, rec.T
		if rec.Kind == trace.KindFrame {
			if rec.From == trace.Client {
				s.ClientFrames++
			} else {
				s.ServerFrames++
				if !oc.seq && rec.Op == trace.OpText {
					if env, err := protocol.Parse(rec.Payload); err == nil && env.HasSeq {
						oc.seq = true
						s.Conns[oc.ci].FirstSeq = env.Seq
					}
				}
			}
		}
		if (rec.Kind == trace.KindClose || rec.Op == trace.OpClose) && !oc.closed {
			oc.closed = true
			ix.open[s]--
		}
	case trace.KindHTTP:
		ix.addHTTP(rec)
	}
}

func (ix *indexer) openConn(rec *trace.Record, rawURL string, sess protocol.Session) {
	sess = protocol.SessionOf(sess, rawURL)
	key := sess.Key()
	if ix.open == nil {
		ix.open = map[*SessionInfo]int{}
	}
	s := ix.latest[key]
	if s == nil || s.channel(sess.Channel) >= 0 || ix.open[s] == 0 ||
		sess.Channel == protocol.ChannelNameSingle || s.channel(protocol.ChannelNameSingle) >= 0 {
		s = &SessionInfo{Number: len(ix.x.Sessions) + 1, Key: key, FirstLine: rec.Line, Start: rec.T}
		ix.x.Sessions = append(ix.x.Sessions, s)
		ix.latest[key] = s
	}
	s.Conns = append(s.Conns, ConnInfo{Conn: rec.Conn, Channel: sess.Channel, URL: rawURL, Line: rec.Line})
	s.LastLine, s.End = rec.Line, rec.T
	ix.byConn[rec.Conn] = &openConn{s: s, ci: len(s.Conns) - 1}
	ix.open[s]++
}

func (ix *indexer) addHTTP(rec *trace.Record) {
	h := rec.HTTP
	if h == nil || h.Upgrade || (h.Method != "" && h.Method != "GET") || h.Status == 0 {
		return
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		return
	}
	a := HTTPAnswer{Path: u.Path, Status: h.Status, Line: rec.Line}
	a.ContentType = http.Header(h.ResponseHeaders).Get("Content-Type")
	if b := h.ResponseBody; b != nil {
		if b.Truncated {
			return
		}
		a.Body = b.Data
	}
	for i := range ix.x.HTTP {
		if ix.x.HTTP[i].Path == a.Path {
			ix.httpBytes -= len(ix.x.HTTP[i].Body)
			ix.x.HTTP[i] = a
			ix.httpBytes += len(a.Body)
			return
		}
	}
	if ix.httpBytes+len(a.Body) > maxHTTPBytes {
		return
	}
	ix.httpBytes += len(a.Body)
	ix.x.HTTP = append(ix.x.HTTP, a)
}
