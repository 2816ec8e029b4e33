//go:build unix

package pgtemp

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// account is the unprivileged user PostgreSQL runs as when we are root; nil
// means run as ourselves.
type account struct {
	name string
	uid  uint32
	gid  uint32
}

// unprivileged picks the account to run PostgreSQL as: nil unless we are
// root, then postgres when it exists, else nobody.
func unprivileged() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}

	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}

		return accountOf(u)
	}

	return nil, fmt.Errorf("pgtemp: running as root and neither user postgres nor nobody exists")
}

func accountOf(u *user.User) (*account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: user %s: uid %q: %w", u.Username, u.Uid, err)
	}

	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: user %s: gid %q: %w", u.Username, u.Gid, err)
	}

	return &account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// apply makes cmd run as the account.
func (a *account) apply(cmd *exec.Cmd) {
	if a == nil {
		return
	}

	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid},
	}
}

// own gives the account the cluster directory, where initdb creates the rest.
func (a *account) own(dir string) error {
	if a == nil {
		return nil
	}

	if err := os.Chown(dir, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("pgtemp: give %s to user %s: %w", dir, a.name, err)
	}

	return nil
}
