package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lettadev/wsproxy/har"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

const exportUsage = `usage: wsproxy export -format har IN -o OUT.har

Writes the trace IN as a HAR 1.2 file, as Chrome DevTools and HTTP Toolkit
write and read them: each WebSocket connection is an entry (its upgrade
request and response) with _webSocketMessages (type send/receive, time in
epoch seconds, opcode 1 text or 2 binary in base64, data); each plain HTTP
exchange is an ordinary entry. Control frames (ping, pong, close) are left
out, as Chrome does. The trace's redaction stays as it is (wsproxy redact
first to share it). Exit status: 0, 2 on a usage or I/O error.

Example:
  wsproxy export -format har traces/sim-turn-approval.jsonl.zst -o session.har`

func runExport(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy export", exportUsage, stdout, stderr)
	f.Format("har")
	out := f.String("o", "", "the file to write, `OUT.har`")
	mkdir := f.Bool("mkdir", false, "create -o's missing parent directories")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return f.Usagef("want one IN trace")
	}
	if *out == "" {
		return f.Usagef("-o OUT.har is required")
	}
	var recs []*trace.Record
	res, err := view.Read(pos[0], func(r *trace.Record) error { recs = append(recs, r); return nil })
	if !reportRead(f, pos[0], res, err) {
		return cli.ExitFailure
	}
	if err := writeFileVia(*out, *mkdir, func(w io.Writer) error { return har.Write(w, recs, version) }); err != nil {
		return f.Failf("%v", err)
	}
	return cli.ExitOK
}

// writeFileVia creates path (mode 0600: it holds user data; its parent
// must exist unless mkdir) and writes it with write.
func writeFileVia(path string, mkdir bool, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if mkdir {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	} else if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("-o %s: directory %s does not exist (add -mkdir to create it)", path, dir)
	}
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(fl)
	err = write(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

const importHARUsage = `usage: wsproxy import-har [flags] FILE.har...

Turns HAR files (Chrome DevTools "Save all as HAR", HTTP Toolkit, wsproxy
export) into traces (source import): each WebSocket entry becomes a
connection with its messages, each other entry an http record. Secrets
are redacted with the proxy's default rules unless -keep-secrets. -out is
a directory (NAME.jsonl.zst per file, the default: the current directory)
or, for one file, the trace to write. Exit status: 0, 2 on a usage error
or a file that is not a HAR.

Example:
  wsproxy import-har session.har -out imported/`

func runImportHAR(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy import-har", importHARUsage, stdout, stderr)
	out := f.String("out", "", "output directory, or trace file for a single HAR (default: the current directory)")
	keep := f.Bool("keep-secrets", false, "do not redact secrets (tokens, Authorization, cookies, secret values)")
	quiet := f.Bool("q", false, "print nothing but errors")
	mkdir := f.Bool("mkdir", false, "create -out's missing parent directories")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("no FILE.har given")
	}
	if len(pos) > 1 && cli.IsTraceFileName(*out) {
		return f.Usagef("-out %s is a file, but %d HAR files were given: use a directory", *out, len(pos))
	}
	if *out != "" {
		// The same -out rules as the proxy's: a missing directory is made
		// (its parents only with -mkdir), an existing non-trace file refused.
		plan, err := cli.PlanOut(*out, *mkdir, timeNow())
		if err != nil {
			return f.Usagef("%v", err)
		}
		if err := plan.Prepare(); err != nil {
			return f.Failf("%v", err)
		}
	}
	code = cli.ExitOK
	for _, in := range pos {
		path, n, err := importHAR(in, *out, *keep)
		if err != nil {
			code = f.Failf("%v", err)
			continue
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s → %s: %d records\n", in, path, n)
		}
	}
	return code
}

// importHAR converts one HAR file to a trace in out (a directory, a
// trace name, or "" for the current directory) and returns its path and
// record count.
func importHAR(in, out string, keep bool) (string, int, error) {
	fl, err := os.Open(in)
	if err != nil {
		return "", 0, err
	}
	recs, err := har.Read(fl, in)
	fl.Close()
	if err != nil {
		return "", 0, err
	}
	path := out
	if !cli.IsTraceFileName(out) {
		base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		path = filepath.Join(out, base+".jsonl.zst")
	}
	opts := recorder.Options{}
	if strings.HasSuffix(path, ".jsonl") {
		opts.Compression = recorder.Plain
	}
	t0 := timeNow()
	if len(recs) > 0 {
		t0 = recs[0].T
	}
	hdr := trace.NewHeader("wsproxy", version, "import", t0)
	x := &redact.Redactor{}
	if keep {
		hdr.Header.Secrets = "kept"
	}
	w, err := recorder.Create(path, opts)
	if err != nil {
		return "", 0, err
	}
	werr := w.Write(hdr)
	for _, r := range recs {
		if werr != nil {
			break
		}
		if !keep {
			if werr = x.Record(r); werr != nil {
				break
			}
		}
		werr = w.Write(r)
	}
	if err := w.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(path)
		return "", 0, werr
	}
	return path, len(recs), nil
}

// importIfHAR imports path as a HAR file when its content is one, for
// "wsproxy import", which takes HAR files beside packet captures: handled
// reports whether it was a HAR (then err is the import's error). out and
// keep mean what import's -out and -keep-secrets mean.
func importIfHAR(path, out string, keep bool, stdout io.Writer, quiet bool) (handled bool, err error) {
	fl, err := os.Open(path)
	if err != nil {
		return false, nil // not for us to say: the capture import reports it
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(fl, head)
	fl.Close()
	if !har.Sniff(head[:n]) {
		return false, nil
	}
	written, recs, err := importHAR(path, out, keep)
	if err != nil {
		return true, err
	}
	if !quiet {
		fmt.Fprintf(stdout, "%s (HAR) → %s: %d records\n", path, written, recs)
	}
	return true, nil
}
