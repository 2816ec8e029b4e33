//go:build !unix

package pgtemp

import "os/exec"

// account is a no-op where PostgreSQL's refusal to run as root does not apply.
type account struct{}

func unprivileged() (*account, error) { return nil, nil }

func (a *account) apply(*exec.Cmd) {}

func (a *account) own(string) error { return nil }
