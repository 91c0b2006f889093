package inspector

import (
	"strings"
	"sync"

	"github.com/gdamore/tcell/v2"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/inspector/model"
)

// FilesOptions configure Inspect.
type FilesOptions struct {
	// Check configures the checker whose findings are shown.
	Check analysis.Config
	// Screen is where to draw (nil: the terminal).
	Screen tcell.Screen
	// Filter is applied once the UI is up ("" for none).
	Filter string
}

// Inspect opens trace files (directories expand to their traces, rotated
// parts and several files load together, like wsproxy check) and shows
// them until the user quits. Files that are missing or are not traces
// give an error before anything is drawn; the rest loads in the
// background while the first screen is already usable.
func Inspect(paths []string, o FilesOptions) error {
	fs, err := model.Open(paths)
	if err != nil {
		return err
	}
	m := model.New(o.Check)
	a := New(m, Options{Title: strings.Join(fs.Names(), " "), Screen: o.Screen})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Load(fs, stop)
	}()
	if o.Filter != "" {
		if err := a.SetFilter(o.Filter); err != nil {
			close(stop)
			wg.Wait()
			return err
		}
	}
	err = a.Run()
	close(stop)
	wg.Wait()
	return err
}
