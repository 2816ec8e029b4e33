package atlas

import (
	"errors"
	"fmt"
	"regexp"
)

// MaxNameLen is the longest instance name Atlas accepts.
const MaxNameLen = 64

var (
	projectIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)
	namePattern      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]*$`)
)

// CheckProjectID refuses anything but Atlas's 24 lower-case hexadecimal
// project ids, so that nothing able to change a request path reaches a URL.
func CheckProjectID(id string) error {
	if !projectIDPattern.MatchString(id) {
		return errors.New("project id must be 24 lower-case hexadecimal characters")
	}

	return nil
}

// CheckName refuses an instance name that Atlas would not accept: letters,
// digits and hyphens, starting with a letter or digit, MaxNameLen at most.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("instance name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("instance name is longer than %d characters", MaxNameLen)
	case !namePattern.MatchString(name):
		return errors.New("instance name must be letters, digits and hyphens, starting with a letter or digit")
	}

	return nil
}
