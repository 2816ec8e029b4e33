package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's configuration table is what operators read: every variable
// the exporter understands must be in it.
func TestREADMEListsEveryVariable(t *testing.T) {
	t.Parallel()

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)

	for _, v := range Vars {
		require.Contains(t, string(readme), "`"+v.Name+"`", "README configuration table")
	}
}
