package actor

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	proto "github.com/asynkron/protoactor-go/actor"

	"github.com/shmactor/shmactor/internal/testproc"
)

// A dead letter of any size is logged by its type and size: a 256 MiB
// message sent to an actor that is not there makes a short line.
func TestDeadLetterLoggedByTypeAndSize(t *testing.T) {
	var out syncBuffer
	s := joinT(t, testproc.TempDir(t), "deadletter", WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	const size = 256 << 20
	s.Root.Send(proto.NewPID(s.ProcessRegistry.Address, "nobody"), make([]byte, size))
	var line string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, "DeadLetter") && strings.Contains(l, "nobody") {
				line = l
			}
		}
		if line != "" {
			break
		}
	}
	if line == "" {
		t.Fatalf("no dead letter logged; log:\n%.2000s", out.String())
	}
	if !strings.Contains(line, "[]uint8 (268435456 bytes)") {
		t.Fatalf("dead letter line %.500q does not give the type and size", line)
	}
	if len(out.String()) > 64<<10 {
		t.Fatalf("the log holds %d bytes", len(out.String()))
	}
}
