package wire

import (
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

// docOrder is the payload of the annotated example in docs/wire-format.md.
type docOrder struct {
	ID  uint64
	SKU string
	Qty int
}

// The hex dump in docs/wire-format.md is this encoder's output: the test
// keeps the document honest.
func TestWireFormatDocExample(t *testing.T) {
	r := NewRegistry()
	if err := RegisterName[*docOrder](r, "*example.com/shop.Order"); err != nil {
		t.Fatal(err)
	}
	h := Header{Kind: KindUser, From: 0x1f2e3d4c, To: 0x5a6b7c8d, SenderAddress: "shm://shop/1f2e3d4c", SenderID: "$12",
		Target: "orders", Corr: 7, Type: "*example.com/shop.Order", Seq: 42, Epoch: 1}
	b := AppendHeader(nil, &h)
	b, err := NewEncoder(r).AppendPayload(b, &docOrder{ID: 1001, SKU: "tea", Qty: 3})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/wire-format.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example:begin -->\n```\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/wire-format.md has no example block")
	}
	var got strings.Builder
	for _, line := range strings.Split(string(m[1]), "\n") {
		code, _, _ := strings.Cut(line, "#")
		got.WriteString(strings.ReplaceAll(strings.TrimSpace(code), " ", ""))
	}
	if want := hex.EncodeToString(b); got.String() != want {
		t.Fatalf("docs/wire-format.md example is out of date.\n doc: %s\nwant: %s", got.String(), want)
	}
}
