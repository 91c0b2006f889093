package inspector

import (
	"strings"
	"testing"

	"github.com/rivo/tview"

	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/trace"
)

// stripTags removes tview colour tags the way a TextView would draw them.
func stripTags(s string) string {
	tv := tview.NewTextView().SetDynamicColors(true)
	tv.SetText(s)
	return tv.GetText(true)
}

func TestColorJSONKeepsText(t *testing.T) {
	in := `{"type":"x","a":[],"b":[1,-2.5e3,true,false,null,"[red]"],"c":{"d":"tab\t[x]"}}`
	pretty, ok := model.Pretty([]byte(in))
	if !ok {
		t.Fatal("not JSON")
	}
	got := stripTags(colorJSON(string(pretty)))
	if strings.TrimSpace(got) != strings.TrimSpace(string(pretty)) {
		t.Fatalf("coloured JSON draws as\n%s\nwant\n%s", got, pretty)
	}
	if !strings.Contains(colorJSON(string(pretty)), `[yellow]"type"[-]`) {
		t.Error("keys are not coloured")
	}
}

func TestRenderPayloadForms(t *testing.T) {
	if s := stripTags(renderPayload(trace.OpBinary, []byte{0, 1, 'A', 0xff}, 100)); !strings.Contains(s, "00 01 41 ff") || !strings.Contains(s, "|..A.|") {
		t.Errorf("binary payload not shown as hex:\n%s", s)
	}
	if s := stripTags(renderPayload(trace.OpText, []byte("hello [world]"), 100)); !strings.Contains(s, "hello [world]") {
		t.Errorf("text payload: %q", s)
	}
	if s := stripTags(renderPayload(trace.OpText, []byte(strings.Repeat("x", 300)), 100)); !strings.Contains(s, "100 of 300 bytes shown") {
		t.Errorf("big payload not cut: %q", s)
	}
}
