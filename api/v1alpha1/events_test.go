package v1alpha1_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// eventCalls are the calls that record an Event on a YouTubeExtraction,
// with the index of their reason argument: the programs' own helpers
// event(x, type, reason, ...) and the recorder's Eventf(x, related, type,
// reason, ...).
var eventCalls = map[string]int{"event": 2, "Eventf": 3}

// TestEveryEventReasonIsAnAPIConstant: the reason of every Event the
// manager and the workers record is a constant of this package (or a
// variable holding a failure's reason code), never a string written at the
// call or a constant private to one program, so that the reasons users
// match on are listed, documented and kept in one place.
func TestEveryEventReasonIsAnAPIConstant(t *testing.T) {
	calls := 0
	for _, dir := range []string{"../../controllers", "../../workers"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		var parsed []*ast.File
		consts := map[string]bool{} // the package's own, from all its files
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, f)
			localConsts(f, consts)
		}
		for _, f := range parsed {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				i, ok := eventCalls[sel.Sel.Name]
				if !ok || len(call.Args) <= i {
					return true
				}
				calls++
				at := fset.Position(call.Pos())
				switch arg := call.Args[i].(type) {
				case *ast.BasicLit:
					t.Errorf("%s: Event reason %s is a literal; add a constant to api/v1alpha1/events.go", at, arg.Value)
				case *ast.SelectorExpr:
					if pkg, ok := arg.X.(*ast.Ident); !ok || pkg.Name != "v1alpha1" {
						t.Errorf("%s: Event reason %s is not a constant of api/v1alpha1", at, types(arg))
					}
				case *ast.Ident:
					if consts[arg.Name] {
						t.Errorf("%s: Event reason %s is a constant of its own package; move it to api/v1alpha1/events.go", at, arg.Name)
					}
				default:
					t.Errorf("%s: Event reason %s is neither a constant of api/v1alpha1 nor a variable", at, types(call.Args[i]))
				}
				return true
			})
		}
	}
	// The scan must have found the programs' events, or it checked nothing.
	if calls < 10 {
		t.Fatalf("found %d Event calls in controllers/ and workers/; the scan no longer sees them", calls)
	}
}

// localConsts adds the names of the constants a file declares to out.
func localConsts(f *ast.File, out map[string]bool) {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				out[n.Name] = true
			}
		}
	}
}

func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		return types(e.X) + "." + e.Sel.Name
	case *ast.Ident:
		return e.Name
	}
	return "an expression"
}
