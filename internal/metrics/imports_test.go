package metrics_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOnlyThisPackageImportsPrometheus: client_golang, client_model and
// common (expfmt) are imported by internal/metrics alone (one package per
// outside library, STYLE.md), its tests included.
func TestOnlyThisPackageImportsPrometheus(t *testing.T) {
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), `"github.com/prometheus/`) && filepath.Dir(path) != filepath.Join(root, "internal", "metrics") {
			t.Errorf("%s imports a Prometheus module; only internal/metrics may", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
