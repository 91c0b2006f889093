package cli

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize reads a size such as 1048576, 512KB, 16MiB or 1.5GB: KiB, MiB,
// GiB (and K, M, G) are powers of 1024, KB, MB, GB powers of 1000, B or no
// unit bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	mult := int64(1)
	for _, x := range []struct {
		suffix string
		m      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(u, x.suffix) {
			u, mult = strings.TrimSpace(strings.TrimSuffix(u, x.suffix)), x.m
			break
		}
	}
	n, err := strconv.ParseFloat(u, 64)
	if err != nil || n < 0 || math.IsNaN(n) || n*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB, 100MB or 4096", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatSize writes n the way ParseSize reads it, in the largest binary
// unit that divides it.
func FormatSize(n int64) string {
	for _, x := range []struct {
		unit string
		m    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%x.m == 0 {
			return strconv.FormatInt(n/x.m, 10) + x.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

type sizeValue struct{ p *int64 }

func (v sizeValue) String() string {
	if v.p == nil {
		return ""
	}
	return FormatSize(*v.p)
}

func (v sizeValue) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// Size defines a size flag with units (see ParseSize).
func (f *Flags) Size(p *int64, name string, def int64, usage string) {
	*p = def
	f.Var(sizeValue{p}, name, usage)
}

type choiceValue struct {
	p       *string
	allowed []string
}

func (v choiceValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v choiceValue) Set(s string) error {
	for _, a := range v.allowed {
		if s == a {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want %s", orList(v.allowed))
}

func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// Format defines -format, whose value must be one of allowed (the first is
// the default).
func (f *Flags) Format(allowed ...string) *string {
	p := new(string)
	*p = allowed[0]
	f.Var(choiceValue{p, allowed}, "format", "output format: "+orList(allowed))
	return p
}

// Level is how much a command prints: -1 with -q, 0 by default, 1 with -v.
type Level int

// Quiet and Verbose report -q and -v.
func (l Level) Quiet() bool { return l < 0 }

// Verbose reports -v.
func (l Level) Verbose() bool { return l > 0 }

// Verbosity defines -q (less output: findings and the summary only) and -v
// (more: logs on stderr). quiet and verbose describe them for this command.
func (f *Flags) Verbosity(quiet, verbose string) *Level {
	var q, v bool
	f.BoolVar(&q, "q", false, quiet)
	f.BoolVar(&v, "v", false, verbose)
	l := new(Level)
	f.After(func() error {
		switch {
		case q && v:
			return fmt.Errorf("-q and -v exclude each other")
		case q:
			*l = -1
		case v:
			*l = 1
		}
		return nil
	})
	return l
}

// TokenEnv is the environment variable every command that connects reads
// its bearer token from when -token is not given.
const TokenEnv = "LETTA_API_KEY"

// Token defines -token; when it is not given, *p is $LETTA_API_KEY after
// Parse. The token's value is never printed in help.
func (f *Flags) Token(p *string, usage string) {
	f.StringVar(p, "token", "", usage+" (default $"+TokenEnv+")")
	f.After(func() error {
		set := false
		f.Visit(func(fl *flag.Flag) { set = set || fl.Name == "token" })
		if !set {
			*p = f.Getenv(TokenEnv)
		}
		return nil
	})
}
