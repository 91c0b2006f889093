package sim

import (
	"fmt"
	"sort"
	"time"
)

// channelIDs are the messaging channels the simulated device knows.
var channelIDs = []string{"slack", "telegram"}

func (e *environment) channelID(c *command) (string, error) {
	id := c.a.str("channel_id")
	if id == "" {
		id = "slack"
	}
	if _, ok := e.state.accounts[id]; !ok {
		return id, fmt.Errorf("unknown channel %q", id)
	}
	return id, nil
}

func (e *environment) channelSummary(id string) obj {
	accts := e.state.accounts[id]
	routes := 0
	for _, r := range e.state.routes {
		if r.channelID == id {
			routes++
		}
	}
	// The policy of the channel's first account by id, so that answers do
	// not depend on map order.
	var dm any
	first := ""
	for aid, a := range accts {
		if first == "" || aid < first {
			first, dm = aid, a.dmPolicy
		}
	}
	return o("channel_id", id, "display_name", map[string]string{"slack": "Slack", "telegram": "Telegram"}[id],
		"configured", len(accts) > 0, "enabled", len(accts) > 0, "running", e.state.channelsOn[id],
		"dm_policy", dm, "pending_pairings_count", 0, "approved_users_count", 0,
		"routes_count", routes, "config_schema", nil)
}

func accountSnapshot(a *channelAccount) obj {
	users := a.allowedUsers
	if users == nil {
		users = []string{}
	}
	return o("channel_id", a.channelID, "account_id", a.accountID, "display_name", a.displayName,
		"enabled", a.enabled, "configured", true, "running", a.running, "dm_policy", a.dmPolicy,
		"allowed_users", users, "config", o(), "created_at", "2026-01-01T00:00:00.000Z",
		"updated_at", timestamp(time.Now()))
}

func (e *environment) account(c *command) (string, *channelAccount, error) {
	ch, err := e.channelID(c)
	if err != nil {
		return ch, nil, err
	}
	id := c.a.str("account_id")
	accts := e.state.accounts[ch]
	if id == "" {
		ids := make([]string, 0, len(accts))
		for k := range accts {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		if len(ids) == 0 {
			return ch, nil, fmt.Errorf("channel %s has no account", ch)
		}
		id = ids[0]
	}
	a := accts[id]
	if a == nil {
		return ch, nil, fmt.Errorf("unknown account %q on channel %s", id, ch)
	}
	return ch, a, nil
}

func (e *environment) route(ch, acct, chat string, rt args) obj {
	agent, conv := rt.str("agent_id"), rt.str("conversation_id")
	if conv == "" {
		conv = "default"
	}
	kept := e.state.routes[:0]
	for _, r := range e.state.routes {
		if !(r.channelID == ch && r.chatID == chat) {
			kept = append(kept, r)
		}
	}
	e.state.routes = append(kept, channelRoute{channelID: ch, accountID: acct, chatID: chat, agentID: agent, convID: conv})
	return routeSnapshot(e.state.routes[len(e.state.routes)-1])
}

func routeSnapshot(r channelRoute) obj {
	return o("channel_id", r.channelID, "account_id", r.accountID, "chat_id", r.chatID, "chat_type", "channel",
		"agent_id", r.agentID, "conversation_id", r.convID, "enabled", true,
		"created_at", "2026-01-01T00:00:00.000Z", "updated_at", "2026-01-01T00:00:00.000Z")
}

// accountReply wraps an account operation's reply fields.
func accountReply(ch string, a *channelAccount, err error) (obj, error) {
	var snap any
	if a != nil {
		snap = accountSnapshot(a)
	}
	return o("channel_id", ch, "account", snap), err
}

func (e *environment) accountOp(c *command, op func(a *channelAccount)) (obj, error) {
	ch, a, err := e.account(c)
	if err == nil {
		op(a)
	}
	return accountReply(ch, a, err)
}

func (e *environment) configSnapshot(a *channelAccount) obj {
	users := a.allowedUsers
	if users == nil {
		users = []string{}
	}
	return o("channel_id", a.channelID, "account_id", a.accountID, "display_name", a.displayName,
		"enabled", a.enabled, "dm_policy", a.dmPolicy, "allowed_users", users, "config", o())
}

var channelContents = map[string]content{
	"channels_list": func(e *environment, c *command) (obj, error) {
		list := []obj{}
		for _, id := range channelIDs {
			list = append(list, e.channelSummary(id))
		}
		return o("channels", list), nil
	},
	"channel_accounts_list": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		list := []obj{}
		if err == nil {
			ids := []string{}
			for id := range e.state.accounts[ch] {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				list = append(list, accountSnapshot(e.state.accounts[ch][id]))
			}
		}
		return o("channel_id", ch, "accounts", list), err
	},
	"channel_account_create": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		if err != nil {
			return accountReply(ch, nil, err)
		}
		p := c.a.sub("account")
		id := p.str("account_id")
		if id == "" {
			id = e.nextID("acct")
		}
		if e.state.accounts[ch][id] != nil {
			return accountReply(ch, nil, fmt.Errorf("account %q already exists", id))
		}
		pol := p.str("dm_policy")
		if pol == "" {
			pol = "pairing"
		}
		a := &channelAccount{channelID: ch, accountID: id, displayName: p.str("display_name"),
			enabled: !p.has("enabled") || p.boolean("enabled"), dmPolicy: pol, allowedUsers: p.strings("allowed_users")}
		e.state.accounts[ch][id] = a
		return accountReply(ch, a, nil)
	},
	"channel_account_update": func(e *environment, c *command) (obj, error) {
		return e.accountOp(c, func(a *channelAccount) {
			p := c.a.sub("patch")
			if n := p.str("display_name"); n != "" {
				a.displayName = n
			}
			if p.has("enabled") {
				a.enabled = p.boolean("enabled")
			}
			if d := p.str("dm_policy"); d != "" {
				a.dmPolicy = d
			}
			if p.has("allowed_users") {
				a.allowedUsers = p.strings("allowed_users")
			}
		})
	},
	"channel_account_bind": func(e *environment, c *command) (obj, error) {
		return e.accountOp(c, func(a *channelAccount) {})
	},
	"channel_account_unbind": func(e *environment, c *command) (obj, error) {
		return e.accountOp(c, func(a *channelAccount) {})
	},
	"channel_account_delete": func(e *environment, c *command) (obj, error) {
		ch, a, err := e.account(c)
		id := c.a.str("account_id")
		if err == nil {
			id = a.accountID
			delete(e.state.accounts[ch], id)
		}
		return o("channel_id", ch, "account_id", id, "deleted", err == nil), err
	},
	"channel_account_start": func(e *environment, c *command) (obj, error) {
		return e.accountOp(c, func(a *channelAccount) { a.running = true })
	},
	"channel_account_stop": func(e *environment, c *command) (obj, error) {
		return e.accountOp(c, func(a *channelAccount) { a.running = false })
	},
	"channel_get_config": func(e *environment, c *command) (obj, error) {
		_, a, err := e.account(c)
		if err != nil {
			return o("config", nil), err
		}
		return o("config", e.configSnapshot(a)), nil
	},
	"channel_set_config": func(e *environment, c *command) (obj, error) {
		_, a, err := e.account(c)
		if err != nil {
			return o("config", nil), err
		}
		cfg := c.a.sub("config")
		if d := cfg.str("dm_policy"); d != "" {
			a.dmPolicy = d
		}
		if cfg.has("allowed_users") {
			a.allowedUsers = cfg.strings("allowed_users")
		}
		return o("config", e.configSnapshot(a)), nil
	},
	"channel_start": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		if err != nil {
			return o("channel", nil), err
		}
		e.state.channelsOn[ch] = true
		return o("channel", e.channelSummary(ch)), nil
	},
	"channel_stop": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		if err != nil {
			return o("channel", nil), err
		}
		e.state.channelsOn[ch] = false
		return o("channel", e.channelSummary(ch)), nil
	},
	"channel_pairings_list": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		return o("channel_id", ch, "pending", []obj{}), err
	},
	"channel_pairing_bind": func(e *environment, c *command) (obj, error) {
		ch, a, err := e.account(c)
		if err != nil {
			return o("channel_id", ch, "route", nil), err
		}
		code := c.a.str("code")
		if code == "" {
			return o("channel_id", ch, "route", nil), fmt.Errorf("missing pairing code")
		}
		chat := "chat-" + code
		return o("channel_id", ch, "chat_id", chat, "route", e.route(ch, a.accountID, chat, c.a.sub("runtime"))), nil
	},
	"channel_routes_list": func(e *environment, c *command) (obj, error) {
		ch := c.a.str("channel_id")
		list := []obj{}
		for _, r := range e.state.routes {
			if ch == "" || r.channelID == ch {
				list = append(list, routeSnapshot(r))
			}
		}
		out := o("routes", list)
		if ch != "" {
			out = o("channel_id", ch).with(out)
		}
		return out, nil
	},
	"channel_targets_list": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		if err != nil {
			return o("channel_id", ch, "targets", []obj{}), err
		}
		return o("channel_id", ch, "targets", []obj{o("channel_id", ch, "account_id", "acct-sim",
			"target_id", "target-general", "target_type", "channel", "chat_id", "chat-general", "label", "#general",
			"discovered_at", "2026-01-01T00:00:00.000Z", "last_seen_at", "2026-01-01T00:00:00.000Z")}), nil
	},
	"channel_target_bind": func(e *environment, c *command) (obj, error) {
		ch, a, err := e.account(c)
		tid := c.a.str("target_id")
		if err != nil {
			return o("channel_id", ch, "target_id", tid, "route", nil), err
		}
		chat := "chat-" + tid
		return o("channel_id", ch, "target_id", tid, "chat_id", chat,
			"route", e.route(ch, a.accountID, chat, c.a.sub("runtime"))), nil
	},
	"channel_route_remove": func(e *environment, c *command) (obj, error) {
		ch, err := e.channelID(c)
		chat := c.a.str("chat_id")
		found := false
		kept := e.state.routes[:0]
		for _, r := range e.state.routes {
			if r.channelID == ch && r.chatID == chat {
				found = true
				continue
			}
			kept = append(kept, r)
		}
		e.state.routes = kept
		return o("channel_id", ch, "chat_id", chat, "found", found), err
	},
}
