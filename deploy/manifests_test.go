// Package deploy_test checks the container and Kubernetes files under
// deploy/ and the Dockerfile: manifests parse strictly (an unknown or
// misspelt field fails) and carry the settings that matter in production,
// and the binary built as the Dockerfile builds it runs in an empty root.
package deploy_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The subset of the Kubernetes API the manifests use. Decoding with
// KnownFields makes any field outside it an error, so a typo such as
// concurencyPolicy cannot slip through unnoticed.
type (
	meta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	header struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
	}
	secret struct {
		header     `yaml:",inline"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	cronJob struct {
		header `yaml:",inline"`
		Spec   struct {
			Schedule                   string `yaml:"schedule"`
			TimeZone                   string `yaml:"timeZone"`
			ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
			StartingDeadlineSeconds    *int   `yaml:"startingDeadlineSeconds"`
			SuccessfulJobsHistoryLimit *int   `yaml:"successfulJobsHistoryLimit"`
			FailedJobsHistoryLimit     *int   `yaml:"failedJobsHistoryLimit"`
			JobTemplate                struct {
				Spec jobSpec `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	job struct {
		header `yaml:",inline"`
		Spec   jobSpec `yaml:"spec"`
	}
	jobSpec struct {
		CompletionMode          string      `yaml:"completionMode"`
		Completions             *int        `yaml:"completions"`
		Parallelism             *int        `yaml:"parallelism"`
		BackoffLimit            *int        `yaml:"backoffLimit"`
		BackoffLimitPerIndex    *int        `yaml:"backoffLimitPerIndex"`
		MaxFailedIndexes        *int        `yaml:"maxFailedIndexes"`
		ActiveDeadlineSeconds   *int        `yaml:"activeDeadlineSeconds"`
		TTLSecondsAfterFinished *int        `yaml:"ttlSecondsAfterFinished"`
		Template                podTemplate `yaml:"template"`
	}
	deployment struct {
		header `yaml:",inline"`
		Spec   struct {
			Replicas *int `yaml:"replicas"`
			Strategy struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template podTemplate `yaml:"template"`
		} `yaml:"spec"`
	}
	podTemplate struct {
		Metadata meta    `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	}
	podSpec struct {
		RestartPolicy                 string `yaml:"restartPolicy"`
		AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
		TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
			RunAsUser      *int  `yaml:"runAsUser"`
			RunAsGroup     *int  `yaml:"runAsGroup"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			SecretRef struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
)

// decodeStrict reads the single document of path into v, refusing unknown
// fields and extra documents.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()

	b, err := os.ReadFile(filepath.Join("kubernetes", path))
	require.NoError(t, err)

	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), path)

	var extra any
	require.ErrorIs(t, dec.Decode(&extra), io.EOF, "%s holds one document", path)
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	t.Parallel()

	dec := yaml.NewDecoder(bytes.NewReader([]byte("apiVersion: batch/v1\nkind: CronJob\nspec:\n  concurencyPolicy: Forbid\n")))
	dec.KnownFields(true)

	var cj cronJob
	err := dec.Decode(&cj)
	require.Error(t, err)
	require.Contains(t, err.Error(), "concurencyPolicy")
}

// requireHardenedPod checks what every pod of the exporter needs: non-root,
// read-only root filesystem, no privilege escalation, requests and limits.
func requireHardenedPod(t *testing.T, spec podSpec, wantArgs string) {
	t.Helper()

	require.NotNil(t, spec.SecurityContext.RunAsNonRoot)
	require.True(t, *spec.SecurityContext.RunAsNonRoot)
	require.NotNil(t, spec.SecurityContext.RunAsUser)
	require.NotZero(t, *spec.SecurityContext.RunAsUser)
	require.Equal(t, "RuntimeDefault", spec.SecurityContext.SeccompProfile.Type)
	require.NotNil(t, spec.AutomountServiceAccountToken)
	require.False(t, *spec.AutomountServiceAccountToken)
	require.NotNil(t, spec.TerminationGracePeriodSeconds)
	require.Greater(t, *spec.TerminationGracePeriodSeconds, 25, "grace above EXPORTER_SHUTDOWN_TIMEOUT")

	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	require.Equal(t, []string{wantArgs}, c.Args)
	require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.Equal(t, []string{"ALL"}, c.SecurityContext.Capabilities.Drop)
	for _, k := range []string{"cpu", "memory"} {
		require.NotEmpty(t, c.Resources.Requests[k], "request %s", k)
		require.NotEmpty(t, c.Resources.Limits[k], "limit %s", k)
	}

	require.Len(t, c.EnvFrom, 1)
	require.Equal(t, "atlas-snapshot-exporter", c.EnvFrom[0].SecretRef.Name)

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	require.NotEmpty(t, env["EXPORTER_TARGETS"])
	for name := range env {
		require.NotContains(t, []string{"MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PRIVATE_API_KEY", "DATABASE_URL"}, name,
			"secrets come from the Secret, never inline")
	}
}

func TestCronJob(t *testing.T) {
	t.Parallel()

	var cj cronJob
	decodeStrict(t, "cronjob.yaml", &cj)

	require.Equal(t, "batch/v1", cj.APIVersion)
	require.Equal(t, "CronJob", cj.Kind)
	require.Equal(t, "Forbid", cj.Spec.ConcurrencyPolicy)
	require.NotEmpty(t, cj.Spec.Schedule)
	require.NotNil(t, cj.Spec.StartingDeadlineSeconds)
	require.Positive(t, *cj.Spec.StartingDeadlineSeconds)

	js := cj.Spec.JobTemplate.Spec
	require.NotNil(t, js.BackoffLimit)
	require.NotNil(t, js.ActiveDeadlineSeconds)
	require.Greater(t, *js.ActiveDeadlineSeconds, 50*60, "above EXPORTER_RUN_TIMEOUT, so the exporter ends a slow run itself")
	require.Equal(t, "Never", js.Template.Spec.RestartPolicy)
	requireHardenedPod(t, js.Template.Spec, "run")
}

func TestIndexedJob(t *testing.T) {
	t.Parallel()

	var j job
	decodeStrict(t, "indexed-job.yaml", &j)

	require.Equal(t, "Job", j.Kind)
	require.Equal(t, "Indexed", j.Spec.CompletionMode)
	require.NotNil(t, j.Spec.Completions)
	requireHardenedPod(t, j.Spec.Template.Spec, "run")

	count := ""
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "EXPORTER_SHARD_COUNT" {
			count = e.Value
		}
	}
	require.Equal(t, strconv.Itoa(*j.Spec.Completions), count, "EXPORTER_SHARD_COUNT equals completions")
}

func TestDeployment(t *testing.T) {
	t.Parallel()

	var d deployment
	decodeStrict(t, "deployment.yaml", &d)

	require.Equal(t, "apps/v1", d.APIVersion)
	require.Equal(t, "Deployment", d.Kind)
	require.NotNil(t, d.Spec.Replicas)
	require.Equal(t, 1, *d.Spec.Replicas)
	require.Equal(t, d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	requireHardenedPod(t, d.Spec.Template.Spec, "serve")

	c := d.Spec.Template.Spec.Containers[0]
	require.NotNil(t, c.LivenessProbe)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.NotNil(t, c.ReadinessProbe)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Len(t, c.Ports, 1)
	require.Equal(t, 9090, c.Ports[0].ContainerPort)
	require.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port)
}

func TestSecretExample(t *testing.T) {
	t.Parallel()

	var s secret
	decodeStrict(t, "secret.example.yaml", &s)

	require.Equal(t, "Secret", s.Kind)
	require.Equal(t, "atlas-snapshot-exporter", s.Metadata.Name)
	for _, k := range []string{"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET", "DATABASE_URL"} {
		require.Contains(t, s.StringData, k)
		require.Contains(t, s.StringData[k], "REPLACE_ME", "the example holds no real secret")
	}
}
