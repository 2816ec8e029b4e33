package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's configuration table is what operators read: every variable
// the exporter understands must be in it, with the meaning `exporter config`
// prints, so that a changed rule cannot leave the table behind.
func TestREADMEListsEveryVariable(t *testing.T) {
	t.Parallel()

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)

	meanings := readmeMeanings(string(readme))
	for _, v := range Vars {
		require.Contains(t, string(readme), "`"+v.Name+"`", "README configuration table")
		require.Equal(t, v.Meaning, meanings[v.Name], "README meaning of %s", v.Name)
	}
}

// readmeMeanings maps each row "| `NAME` | default | meaning |" of the
// README's tables to its meaning.
func readmeMeanings(readme string) map[string]string {
	out := map[string]string{}

	for line := range strings.SplitSeq(readme, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 3 || !strings.HasPrefix(cells[0], "`") {
			continue
		}

		out[strings.Trim(cells[0], "`")] = cells[2]
	}

	return out
}
