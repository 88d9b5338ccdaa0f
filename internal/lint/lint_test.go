package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
		// protoactor's own messages are protobuf, and so are the messages
		// of its users: package wire encodes them with protobuf itself.
		"google.golang.org/protobuf/",
		// Metrics, through the OpenTelemetry API (protoactor uses it too);
		// the SDK in tests.
		"go.opentelemetry.io/otel",
		// Beyond one machine: protoactor-go's remote is gRPC, and the
		// node's TLS is given to it as gRPC credentials.
		"google.golang.org/grpc",
	}
	// The NATS bridge is a package of its own, so that only those who
	// import it depend on nats.go; its tests run an embedded server.
	bridgeOnly := []string{"github.com/nats-io/nats.go"}
	bridgeTestOnly := []string{"github.com/nats-io/nats-server/v2"}
	// The metrics example exports to Prometheus, as a user would.
	exampleOnly := []string{
		"go.opentelemetry.io/otel/exporters/prometheus",
		"github.com/prometheus/client_golang/",
	}
	// The benchmark is a module of its own (bench/go.mod): the peers it
	// measures against stay out of the library's go.mod.
	benchOnly := []string{
		"github.com/nats-io/",
		"gonum.org/v1/plot",
	}
	root := moduleRoot(t)
	for _, f := range goFiles(t, root) {
		inBench := strings.HasPrefix(f, "bench/")
		for _, im := range imports(t, filepath.Join(root, f)) {
			if !strings.Contains(strings.Split(im, "/")[0], ".") {
				continue // standard library
			}
			if !inBench && strings.HasPrefix(im, "github.com/shmactor/shmactor/bench") {
				t.Errorf("%s imports the benchmark module %s", f, im)
			}
			ok := false
			list := allowed
			if inBench {
				list = append(slices.Clone(allowed), benchOnly...)
			}
			if strings.HasPrefix(f, "examples/") {
				list = append(slices.Clone(list), exampleOnly...)
			}
			// The bridge, and the examples and benchmarks that use it.
			if strings.HasPrefix(f, "natsbridge/") || strings.HasPrefix(f, "examples/") || inBench {
				list = append(slices.Clone(list), bridgeOnly...)
				if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "examples/") || inBench {
					list = append(list, bridgeTestOnly...)
				}
			}
			for _, a := range list {
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

// Every package has a doc.go whose package comment starts "Package x"
// ("Command x" for commands), and every exported identifier has a doc
// comment (a const or var group's comment covers its members).
func TestDocs(t *testing.T) {
	root := moduleRoot(t)
	dirs := map[string]bool{}
	for _, rel := range goFiles(t, root) {
		dirs[filepath.Dir(rel)] = true
		path := filepath.Join(root, rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "main" {
			continue // a command's identifiers are its own
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || d.Doc != nil {
					continue
				}
				if d.Recv != nil && !exportedRecv(d.Recv) {
					continue
				}
				t.Errorf("%s: %s has no doc comment", rel, d.Name.Name)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
							t.Errorf("%s: type %s has no doc comment", rel, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
								t.Errorf("%s: %s has no doc comment", rel, n.Name)
							}
						}
					}
				}
			}
		}
	}
	for dir := range dirs {
		path := filepath.Join(root, dir, "doc.go")
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Errorf("%s: no doc.go (%v)", dir, err)
			continue
		}
		want := "Package " + f.Name.Name + " "
		if f.Name.Name == "main" {
			want = "Command " + filepath.Base(dir) + " "
		}
		if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), want) {
			t.Errorf("%s/doc.go: the package comment must start %q", dir, want)
		}
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	if len(fl.List) == 0 {
		return false
	}
	x := fl.List[0].Type
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	if g, ok := x.(*ast.IndexExpr); ok {
		x = g.X
	}
	id, ok := x.(*ast.Ident)
	return ok && id.IsExported()
}

// The library's go.mod requires none of the benchmark's peers.
func TestLibraryModuleHasNoBenchPeers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"gonum.org"} {
		if strings.Contains(string(b), peer) {
			t.Errorf("go.mod mentions %s, a benchmark-only dependency", peer)
		}
	}
}

// An error message names its package once: fmt.Errorf("shm: open %s: %w",
// path, ErrNotFound) reads "shm: open /x: shm: not found". A sentinel of
// the package itself goes first ("%w: open %s"), where its prefix is the
// message's.
func TestNoDoubledErrorPrefix(t *testing.T) {
	root := moduleRoot(t)
	type file struct {
		rel  string
		fset *token.FileSet
		ast  *ast.File
	}
	var files []file
	sentinels := map[string]map[string]bool{} // package directory → its Err* variables
	for _, rel := range goFiles(t, root) {
		if strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "examples/") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file{rel, fset, f})
		dir := filepath.Dir(rel)
		if sentinels[dir] == nil {
			sentinels[dir] = map[string]bool{}
		}
		for name, o := range f.Scope.Objects {
			if o.Kind == ast.Var && strings.HasPrefix(name, "Err") {
				sentinels[dir][name] = true
			}
		}
	}
	for _, f := range files {
		own := sentinels[filepath.Dir(f.rel)]
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Errorf" {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "fmt" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			format, _ := strconv.Unquote(lit.Value)
			prefix, _, ok := strings.Cut(format, ": ")
			if !ok || strings.ContainsAny(prefix, "% ") {
				return true // no package prefix
			}
			for _, arg := range wrapped(format, call.Args[1:]) {
				if id, ok := arg.(*ast.Ident); ok && own[id.Name] {
					t.Errorf("%s: %q wraps %s after its own prefix %q; put the sentinel first", f.fset.Position(call.Pos()), format, id.Name, prefix+":")
				}
			}
			return true
		})
	}
}

// wrapped returns the arguments of format's %w verbs.
func wrapped(format string, args []ast.Expr) []ast.Expr {
	var out []ast.Expr
	k := 0
	for i := 0; i < len(format)-1; i++ {
		if format[i] != '%' {
			continue
		}
		if format[i+1] == '%' {
			i++
			continue
		}
		if format[i+1] == 'w' && k < len(args) {
			out = append(out, args[k])
		}
		k++
	}
	return out
}
