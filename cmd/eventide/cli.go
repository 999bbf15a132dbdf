package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// usageError is a mistake in how a command was called: an unknown flag, a
// value that does not parse, a stray argument, a required flag missing.
// main exits 2 for it, as the flag package does, and 1 for any other error.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode is the process's exit status for run's result.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// command is one subcommand's flags and help.
type command struct {
	name     string
	synopsis string // the usage line after "eventide "
	about    string // what it does, printed under the usage line
	fs       *flag.FlagSet
	// shared are the flags borrowed from serve, listed apart in the help.
	shared []string
	// serve is serve's flag set, to tell a user who gives a server flag to
	// another command where it belongs; nil for serve itself.
	serve *flag.FlagSet
}

// newFlagSet returns a flag set that prints nothing by itself: parse
// errors become one line (see parse), and --help prints the command's own
// help (see printHelp), to stdout.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// borrow defines on dst the flags of src named, sharing their values: a
// command that reads part of serve's configuration (token, migrate) gets the
// very same flags, variables and defaults, and lists only those.
func borrow(dst, src *flag.FlagSet, names ...string) []string {
	for _, name := range names {
		f := src.Lookup(name)
		if f == nil {
			panic("borrow: serve has no flag --" + name)
		}
		dst.Var(f.Value, f.Name, f.Usage)
		dst.Lookup(name).DefValue = f.DefValue
	}
	return names
}

// parse parses args into c's flags. help is true when the user asked for
// the help (-h, --help), which parse has printed to stdout; the command
// then ends with success. A parse error or a stray argument is one line that
// points to the help, never the whole flag list.
func (c *command) parse(args []string, stdout io.Writer) (help bool, err error) {
	err = c.fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(stdout)
		return true, nil
	case err != nil:
		return false, c.usageErrorf("%s", c.explain(err))
	case c.fs.NArg() > 0:
		arg := c.fs.Arg(0)
		if arg == "help" {
			c.printHelp(stdout)
			return true, nil
		}
		return false, c.usageErrorf("unexpected argument %q (flags come before it, each as --name value)", arg)
	}
	return false, nil
}

// usageErrorf is a usageError naming the command and pointing to its help.
func (c *command) usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf("%s: %s; see \"eventide %s --help\"", c.name, fmt.Sprintf(format, args...), c.name)}
}

var (
	undefinedFlagRE = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	invalidValueRE  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -+([^:]+): `)
	singleDashRE    = regexp.MustCompile(`(^|[ :])-([A-Za-z][A-Za-z0-9-]*)`)
)

// explain rewords a flag package error in the terms of the docs (--name),
// with a hint for an unknown flag or a value of the wrong kind.
func (c *command) explain(err error) string {
	msg := err.Error()
	if m := undefinedFlagRE.FindStringSubmatch(msg); m != nil {
		name, _, _ := strings.Cut(m[1], "=")
		return "unknown flag --" + name + c.hint(name)
	}
	if m := invalidValueRE.FindStringSubmatch(msg); m != nil {
		if f := c.fs.Lookup(m[2]); f != nil {
			return fmt.Sprintf("--%s %q is not %s", f.Name, m[1], kindOf(f))
		}
	}
	return singleDashRE.ReplaceAllString(msg, "$1--$2")
}

// kindOf says what a flag's value must be, with an example.
func kindOf(f *flag.Flag) string {
	switch typ, _ := flag.UnquoteUsage(f); typ {
	case "duration":
		return "a duration (such as 30s, 5m or 1h)"
	case "int", "uint":
		return "a whole number"
	case "":
		return "true or false"
	default:
		return "a " + typ
	}
}

// hint says where an unknown flag might have been meant.
func (c *command) hint(name string) string {
	if c.serve != nil && c.serve.Lookup(name) != nil {
		return fmt.Sprintf(" (--%s is a flag of eventide serve; %s does not use it)", name, c.name)
	}
	best, bestDist := "", 3 // at most two edits away
	c.fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist || (d == bestDist && f.Name < best) {
			best, bestDist = f.Name, d
		}
	})
	if best != "" {
		return fmt.Sprintf(" (did you mean --%s?)", best)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// printHelp prints the command's usage line, what it does and its flags.
func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: eventide %s\n\n%s\n", c.synopsis, strings.TrimSpace(c.about))
	var own, shared []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(c.shared, f.Name) {
			shared = append(shared, f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, own)
	}
	if len(shared) > 0 {
		fmt.Fprintln(w, "\nShared with eventide serve (the same flags and environment variables):")
		printFlags(w, shared)
	}
}

// printFlags lists flags as the docs write them: --name type, then the
// usage and the default on an indented line.
func printFlags(w io.Writer, flags []*flag.Flag) {
	for _, f := range flags {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name // conformance's -v
		}
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		if !isZeroDefault(f.DefValue) {
			if typ == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "        %s\n", usage)
	}
}

func isZeroDefault(v string) bool {
	switch v {
	case "", "0", "0s", "false":
		return true
	}
	return false
}

// problems collects what is wrong with a configuration, so that one run
// reports all of it rather than one problem per try.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// err is nil, the one problem, or all of them, one per line.
func (p problems) err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return errors.New(p[0])
	}
	return fmt.Errorf("%d problems with the configuration:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// envVarRE finds a flag's environment variable in its usage text, where
// bindConfig writes it: "... [EVENTIDE_ADDR]".
var envVarRE = regexp.MustCompile(`\[(EVENTIDE_[A-Z0-9_]+)\]`)

// envVar is the environment variable of a flag ("" for none).
func envVar(f *flag.Flag) string {
	if m := envVarRE.FindStringSubmatch(f.Usage); m != nil {
		return m[1]
	}
	return ""
}

// checkEnv reports an environment variable whose value its flag would not
// accept (bindConfig falls back to the default for those, which would hide
// a typo such as EVENTIDE_PING_INTERVAL=25). A flag given on the command
// line wins, so its variable is not checked.
func checkEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool), p *problems) {
	fs.VisitAll(func(f *flag.Flag) {
		key := envVar(f)
		if key == "" || isSet(fs, f.Name) {
			return
		}
		v, ok := lookupEnv(key)
		if !ok || v == "" {
			return
		}
		// Parse it into a new value of the flag's type, leaving the flag
		// as it is (and as not given on the command line).
		t := reflect.TypeOf(f.Value)
		if t.Kind() != reflect.Pointer {
			return
		}
		probe, ok := reflect.New(t.Elem()).Interface().(flag.Value)
		if !ok {
			return
		}
		if err := probe.Set(v); err != nil {
			p.addf("%s=%q is not %s (it sets --%s)", key, v, kindOf(f), f.Name)
		}
	})
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
