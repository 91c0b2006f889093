package sim

import (
	"fmt"
	"strconv"
	"strings"
)

const prompt = "$ "

func (e *environment) terminalID(c *command) (string, bool) {
	id := c.a.str("terminal_id")
	if id == "" {
		c.sock.sendError("", c.typ, "missing_terminal_id", c.typ+": missing terminal_id")
		return "", false
	}
	return id, true
}

func handleTerminalSpawn(e *environment, c *command) {
	id, ok := e.terminalID(c)
	if !ok {
		return
	}
	e.ids++
	t := &terminal{id: id, pid: 10000 + e.ids, cols: c.a.integer("cols", 80), rows: c.a.integer("rows", 24), sock: c.sock}
	e.state.terminals[id] = t
	e.direct(c.sock, o("type", "terminal_spawned", "terminal_id", id, "pid", t.pid))
	e.direct(c.sock, o("type", "terminal_output", "terminal_id", id, "data", prompt))
}

func (e *environment) terminal(c *command) (*terminal, bool) {
	id, ok := e.terminalID(c)
	if !ok {
		return nil, false
	}
	t := e.state.terminals[id]
	if t == nil {
		c.sock.sendError("", c.typ, "unknown_terminal", fmt.Sprintf("%s: no terminal %q", c.typ, id))
		return nil, false
	}
	return t, true
}

// handleTerminalInput echoes input like a shell: a complete line is
// echoed, "echo X" prints X, "exit N" ends the terminal, anything else
// prints a simulated result.
func handleTerminalInput(e *environment, c *command) {
	t, ok := e.terminal(c)
	if !ok {
		return
	}
	data := c.a.str("data")
	if !strings.ContainsAny(data, "\r\n") {
		e.direct(c.sock, o("type", "terminal_output", "terminal_id", t.id, "data", data))
		return
	}
	line := strings.TrimRight(data, "\r\n")
	out := line + "\r\n"
	fields := strings.Fields(line)
	switch {
	case len(fields) > 0 && fields[0] == "exit":
		code := 0
		if len(fields) > 1 {
			code, _ = strconv.Atoi(fields[1])
		}
		e.direct(c.sock, o("type", "terminal_output", "terminal_id", t.id, "data", out))
		delete(e.state.terminals, t.id)
		e.direct(c.sock, o("type", "terminal_exited", "terminal_id", t.id, "exitCode", code))
		return
	case len(fields) > 0 && fields[0] == "echo":
		out += strings.Join(fields[1:], " ") + "\r\n"
	case len(fields) > 0:
		out += fields[0] + ": simulated\r\n"
	}
	e.direct(c.sock, o("type", "terminal_output", "terminal_id", t.id, "data", out+prompt))
}

func handleTerminalResize(e *environment, c *command) {
	t, ok := e.terminal(c)
	if !ok {
		return
	}
	t.cols, t.rows = c.a.integer("cols", t.cols), c.a.integer("rows", t.rows)
}

func handleTerminalKill(e *environment, c *command) {
	id, ok := e.terminalID(c)
	if !ok {
		return
	}
	if e.state.terminals[id] == nil {
		e.direct(c.sock, o("type", "terminal_exited", "terminal_id", id, "exitCode", 1, "error", "no such terminal"))
		return
	}
	delete(e.state.terminals, id)
	e.direct(c.sock, o("type", "terminal_exited", "terminal_id", id, "exitCode", 0))
}
