package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readDoc reads a file of the repository (the tests run in cmd/eventide).
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// envName is the environment variable a flag is bound to by convention.
func envName(flagName string) string {
	return "EVENTIDE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

var (
	codeRE    = regexp.MustCompile("`([^`]*)`")
	flagRefRE = regexp.MustCompile(`--([a-z0-9][a-z0-9-]*)`)
)

// TestEveryServeFlagHasItsVariable: each flag names its variable in its
// help, by the one convention (checkEnv and the docs rely on it).
func TestEveryServeFlagHasItsVariable(t *testing.T) {
	fs, _, _ := newServeFlags(env(nil))
	fs.VisitAll(func(f *flag.Flag) {
		if got := envVar(f); got != envName(f.Name) {
			t.Errorf("--%s: its help names the variable %q, want [%s]", f.Name, got, envName(f.Name))
		}
	})
}

// TestReadmeConfigurationTableIsTrue: every flag the README's configuration
// table names exists, with the variable the row gives and, where the row
// gives plain values, those defaults.
func TestReadmeConfigurationTableIsTrue(t *testing.T) {
	fs, _, _ := newServeFlags(env(nil))
	readme := readDoc(t, "README.md")
	section := readme[strings.Index(readme, "## Configuration"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `--") || len(cells) < 4 {
			continue
		}
		rows++
		var flags []string
		for _, m := range codeRE.FindAllStringSubmatch(cells[0], -1) {
			flags = append(flags, strings.TrimPrefix(m[1], "--"))
		}
		vars := codeRE.FindAllStringSubmatch(cells[1], -1)
		defaults := codeRE.FindAllStringSubmatch(cells[2], -1)
		for i, name := range flags {
			f := fs.Lookup(name)
			if f == nil {
				t.Errorf("README: --%s is not a flag of eventide serve", name)
				continue
			}
			if i < len(vars) && vars[i][1] != envName(name) {
				t.Errorf("README: --%s has the variable %s, not %s", name, envName(name), vars[i][1])
			}
			// Plain values (not "dev: ...", not a <placeholder>, not a
			// link) are the defaults, one per flag; no value is none.
			plain := !strings.Contains(cells[2], "dev:") && !strings.Contains(cells[2], "<") && !strings.Contains(cells[2], "see")
			switch {
			case len(flags) == 1 && strings.TrimSpace(cells[2]) == "" && !isZeroDefault(f.DefValue):
				t.Errorf("README: --%s defaults to %q, not nothing", name, f.DefValue)
			case plain && len(defaults) == len(flags) && defaults[i][1] != f.DefValue:
				t.Errorf("README: --%s defaults to %q, not %q", name, f.DefValue, defaults[i][1])
			}
		}
	}
	if rows < 10 {
		t.Fatalf("found %d rows in the README's configuration table", rows)
	}
	for _, name := range []string{"data-dir", "jwt-public-key", "admin-addr"} {
		if !strings.Contains(section, "| `--"+name+"` |") {
			t.Errorf("README: the configuration table has no row for --%s", name)
		}
	}
	if !strings.Contains(section, "path of a PEM file") {
		t.Error("README: --jwt-public-key is the path of a PEM file, and the table should say so")
	}
}

// TestOperationsListsEveryFlag: docs/operations.md, the full list, has a
// row for every flag of serve with its variable.
func TestOperationsListsEveryFlag(t *testing.T) {
	fs, _, _ := newServeFlags(env(nil))
	ops := readDoc(t, "docs/operations.md")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(ops, "| `--"+f.Name+"` | `"+envName(f.Name)+"` |") {
			t.Errorf("docs/operations.md has no row | `--%s` | `%s` |", f.Name, envName(f.Name))
		}
	})
}

// TestDocumentedCommandFlagsExist: the flags the README and
// docs/operations.md give `eventide token` and `eventide migrate` are
// theirs.
func TestDocumentedCommandFlagsExist(t *testing.T) {
	docs := readDoc(t, "README.md") + readDoc(t, "docs/operations.md")
	for _, cmd := range []string{"token", "migrate"} {
		r := eventide(t, nil, cmd, "--help")
		found := 0
		for _, m := range regexp.MustCompile("eventide "+cmd+`( --[^\x60\n]*)`).FindAllStringSubmatch(docs, -1) {
			for _, f := range flagRefRE.FindAllStringSubmatch(m[1], -1) {
				found++
				if !strings.Contains(r.stdout, "\n  --"+f[1]+" ") && !strings.Contains(r.stdout, "\n  --"+f[1]+"\n") {
					t.Errorf("the docs give eventide %s --%s, which it does not have", cmd, f[1])
				}
			}
		}
		if cmd == "token" && found == 0 {
			t.Error("the docs show no eventide token flags")
		}
	}
}
