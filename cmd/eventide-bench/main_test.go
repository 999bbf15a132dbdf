package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestParsePIDs(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": nil, "42": {42}, "1, 2,3": {1, 2, 3}} {
		got, err := parsePIDs(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parsePIDs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parsePIDs("1,x"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("parsePIDs(1,x) error %v, want one naming x", err)
	}
}

// TestRunRejectsANodeOutsideLoopback: every node of --url is checked, not
// only the first.
func TestRunRejectsANodeOutsideLoopback(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"run", "--url", "http://127.0.0.1:1,http://10.0.0.1:2"}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Fatalf("run with a node at 10.0.0.1: %v, want it refused by name", err)
	}
}
