//go:build ignore

// generate writes the generated fixture captures of this directory (see
// README.md) from the scenarios of package capture/pcapgen:
//
//	go run traces/captures/generate.go traces/captures
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lettadev/wsproxy/capture/pcapgen"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run traces/captures/generate.go DIR")
		os.Exit(2)
	}
	for _, s := range pcapgen.Scenarios() {
		var b bytes.Buffer
		if err := s.Write(&b); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.File, err)
			os.Exit(1)
		}
		p := filepath.Join(os.Args[1], s.File)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes: %s\n", p, b.Len(), s.About)
	}
}
