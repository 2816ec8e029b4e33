package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// buildFlags are the go build flags of the Dockerfile's build stage; the
// Dockerfile test checks that it still uses them, the empty-root test
// builds with them.
var buildFlags = []string{"-trimpath", "-ldflags", "-s -w -X main.version=v9.9.9-image -X main.commit=imagetest"}

func TestDockerfile(t *testing.T) {
	t.Parallel()

	b, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	text := string(b)

	require.Len(t, regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1), 2, "multi-stage: build, then runtime")
	require.Regexp(t, `(?m)^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot$`, text)
	require.Contains(t, text, "CGO_ENABLED=0 go build -trimpath")
	require.Contains(t, text, `-ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}"`)
	require.Regexp(t, `(?m)^USER 65532:65532$`, text)
	require.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/exporter"\]$`, text)
	require.Regexp(t, `(?m)^CMD \["run"\]$`, text)

	ignore, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	for _, want := range []string{".git", "**/*_test.go", ".env"} {
		require.Contains(t, strings.Split(string(ignore), "\n"), want)
	}
}

// The binary, built as the Dockerfile builds it, runs `version` and
// `config` in a root that holds nothing but itself and a CA bundle, as a
// non-root user: it needs no libc, no shell, no /etc/passwd, no tzdata.
func TestEmptyRoot(t *testing.T) {
	t.Parallel()

	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the empty-root test needs root for chroot, and CI runs as root")
		}
		t.Skip("the empty-root test needs root for chroot")
	}

	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))

	bin := filepath.Join(root, "exporter")
	build := exec.Command(goTool(), append(append([]string{"build"}, buildFlags...), "-o", bin, "../cmd/exporter")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA bundle on this machine to copy: %v", err)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc/ssl/certs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644))

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "version", args: []string{"version"}, want: []string{"exporter v9.9.9-image (commit imagetest, go"}},
		{name: "config", args: []string{"config"}, want: []string{"EXPORTER_TARGETS", "MONGODB_ATLAS_CLIENT_SECRET", "(set)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("/exporter", tt.args...)
			cmd.Env = []string{"MONGODB_ATLAS_CLIENT_ID=mdb_sa_id_x", "MONGODB_ATLAS_CLIENT_SECRET=mdb_sa_sk_hidden"}
			cmd.Dir = "/"
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Chroot:     root,
				Credential: &syscall.Credential{Uid: 65532, Gid: 65532},
			}

			require.NoError(t, cmd.Run(), stderr.String())
			for _, w := range tt.want {
				require.Contains(t, stdout.String(), w)
			}
			require.NotContains(t, stdout.String()+stderr.String(), "mdb_sa_sk_hidden")
		})
	}
}

func goTool() string {
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gotool); err == nil {
		return gotool
	}

	return "go"
}
