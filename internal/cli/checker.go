package cli

import (
	"fmt"
	"strings"

	"github.com/lettadev/wsproxy/analysis"
)

// CheckerFlags defines the checker's flags, the one set that "wsproxy
// check", the live proxy and the demo share, on cfg (which holds the
// defaults shown). After Parse, cfg is ready for analysis.New or
// analysis.CheckFiles; an unknown rule in -disable is a usage error.
func (f *Flags) CheckerFlags(cfg *analysis.Config) {
	d := *cfg
	f.DurationVar(&cfg.AckTimeout, "ack-timeout", d.AckTimeout, "checker: time a client has to ack a server frame's seq")
	f.DurationVar(&cfg.ResponseTimeout, "response-timeout", d.ResponseTimeout, "checker: time a command's reply may take")
	f.DurationVar(&cfg.SyncTimeout, "sync-timeout", d.SyncTimeout, "checker: time a client has to sync after an event_seq gap")
	f.DurationVar(&cfg.Heartbeat, "heartbeat", d.Heartbeat, "checker: the client's expected ping interval")
	f.DurationVar(&cfg.HeartbeatSlack, "heartbeat-slack", d.HeartbeatSlack, "checker: tolerance on top of -heartbeat")
	f.DurationVar(&cfg.PongTimeout, "pong-timeout", d.PongTimeout, "checker: time a ping's pong may take")
	f.IntVar(&cfg.ReorderEvents, "reorder-events", d.ReorderEvents, "checker: events a missing event_seq may still arrive within")
	f.DurationVar(&cfg.ReorderWindow, "reorder-window", d.ReorderWindow, "checker: record time a missing event_seq may still arrive within")
	disable := f.String("disable", "", "checker: comma-separated rule ids not to report, e.g. missing-heartbeat,no-sync-on-attach")
	f.After(func() error {
		if cfg.HeartbeatSlack == 0 {
			cfg.HeartbeatSlack = -1 // an explicit 0: no slack (the Config zero value means the default)
		}
		for _, id := range strings.Split(*disable, ",") {
			if id = strings.TrimSpace(id); id == "" {
				continue
			}
			if _, ok := analysis.LookupRule(id); !ok {
				return fmt.Errorf("unknown rule %q in -disable (wsproxy check -rules lists them)", id)
			}
			cfg.Disable = append(cfg.Disable, id)
		}
		return nil
	})
}
