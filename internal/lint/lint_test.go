package lint

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot finds the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// goFiles returns every non-test Go file of the module, relative to root.
func goFiles(t *testing.T, root string) []string {
	var files []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	return files
}

func imports(t *testing.T, path string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		out = append(out, p)
	}
	return out
}

// Mapped memory is touched only in shm/: no other package may import
// unsafe (DESIGN.md, "Only shm/ may import unsafe").
func TestUnsafeOnlyInShm(t *testing.T) {
	root := moduleRoot(t)
	for _, f := range goFiles(t, root) {
		if strings.HasPrefix(f, "shm/") {
			continue
		}
		for _, im := range imports(t, filepath.Join(root, f)) {
			if im == "unsafe" {
				t.Errorf("%s imports unsafe; only shm/ may", f)
			}
		}
	}
}

// Dependencies stay on the chosen list.
func TestAllowedImports(t *testing.T) {
	allowed := []string{
		"github.com/shmactor/shmactor/",
		"github.com/asynkron/protoactor-go",
		"golang.org/x/sys/",
		"golang.org/x/crypto/",
		"github.com/vmihailenco/msgpack/v5",
	}
	root := moduleRoot(t)
	for _, f := range goFiles(t, root) {
		for _, im := range imports(t, filepath.Join(root, f)) {
			if !strings.Contains(strings.Split(im, "/")[0], ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				if strings.HasPrefix(im, a) || im == strings.TrimSuffix(a, "/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s, which is not an approved dependency", f, im)
			}
		}
	}
}
