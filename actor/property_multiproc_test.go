package actor

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/shmactor/shmactor/internal/testproc"
	"github.com/shmactor/shmactor/internal/wire"
	"github.com/shmactor/shmactor/internal/wire/wiretest"
)

var propSeed = flag.Uint64("prop.seed", 1, "seed of the types and values TestGeneratedTypesCrossProcesses sends")

const (
	envPropSeed  = "ACT_PROP_SEED"
	envPropTypes = "ACT_PROP_TYPES"
)

func init() { helpers["prop-mirror-node"] = helperPropMirrorNode }

// registerGenerated registers n types generated from seed, as every
// process of the test does: the same types under the same names.
func registerGenerated(seed uint64, n int) ([]reflect.Type, []string, error) {
	types, names := wiretest.Types(seed, n)
	for i, t := range types {
		if err := registerType(t, names[i]); err != nil {
			return nil, nil, fmt.Errorf("seed %d: %w", seed, err)
		}
	}
	return types, names, nil
}

// helperPropMirrorNode registers the generated types of ACT_PROP_SEED and
// serves "mirror", which answers every message with itself.
func helperPropMirrorNode() error {
	seed, err := strconv.ParseUint(os.Getenv(envPropSeed), 10, 64)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(os.Getenv(envPropTypes))
	if err != nil {
		return err
	}
	if _, _, err := registerGenerated(seed, n); err != nil {
		return err
	}
	return helperMirrorNode()
}

// Property: a value of any registered type crosses to another process and
// back as it was sent. The types are generated from a seed (structs,
// pointers, embedded structs, slices, arrays, maps, time.Time, integers of
// every width, floats, strings), registered in both processes under the
// same names, and filled with values drawn from their extremes. The seed
// is logged; -prop.seed replays another.
func TestGeneratedTypesCrossProcesses(t *testing.T) {
	types, values := 150, 10
	if testproc.Emulated() {
		types, values = 20, 4
	}
	seed := *propSeed
	t.Logf("seed %d (replay with go test ./actor/ -run %s -prop.seed=%d)", seed, t.Name(), seed)
	ts, names, err := registerGenerated(seed, types)
	if err != nil {
		t.Fatal(err)
	}
	root := testproc.TempDir(t)
	p := testproc.Start(t, "prop-mirror-node", env(root, "prop", envPropSeed+"="+strconv.FormatUint(seed, 10), envPropTypes+"="+strconv.Itoa(types))...)
	p.Expect(t, "ready", time.Minute)
	s := joinT(t, root, "prop")
	pid := mustLookup(t, s, "mirror")
	rng := rand.New(rand.NewPCG(seed, 2))
	enc := wire.NewEncoder(wire.Default)
	sent := 0
	for i, typ := range ts {
		for range values {
			v := wiretest.Value(rng, typ)
			if v.Kind() == reflect.Pointer && v.IsNil() {
				continue // no message at all
			}
			// Values over the inbox's slot size are another test's business.
			if b, err := enc.AppendPayload(nil, v.Interface()); err != nil || len(b) > 16<<10 {
				if err != nil {
					t.Fatalf("seed %d: %s: encode: %v", seed, names[i], err)
				}
				continue
			}
			got, err := s.Request(pid, v.Interface(), 10*time.Second)
			if err != nil {
				t.Fatalf("seed %d: %s (%v): %v\nsent %#v", seed, names[i], typ, err, v)
			}
			if d := wiretest.Diff(v.Interface(), got); d != "" {
				t.Fatalf("seed %d: %s (%v): %s\nsent %#v\n got %#v", seed, names[i], typ, d, v, got)
			}
			sent++
		}
	}
	if sent < types*values/2 {
		t.Fatalf("seed %d: only %d of %d values sent", seed, sent, types*values)
	}
	t.Logf("%d values of %d types crossed and came back", sent, types)
}
