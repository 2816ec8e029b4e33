package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// errTruncated marks a body that ended in the middle of its JSON: the
// connection was cut, so asking again may help.
var errTruncated = errors.New("response body cut off")

// unmarshalBody decodes a response body, telling a body that was cut off
// (retryable) from one that is simply not JSON.
func unmarshalBody(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}

	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset >= int64(len(bytes.TrimRight(body, " \t\r\n"))) {
		return fmt.Errorf("%w after %d bytes", errTruncated, len(body))
	}

	if errors.As(err, &syn) {
		return fmt.Errorf("response is not JSON (%s): %q", syn, excerpt(body, 60))
	}

	return fmt.Errorf("decode response: %w", err)
}

// isObject reports whether raw holds a JSON object (not null, not a scalar).
func isObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")

	return len(trimmed) > 0 && trimmed[0] == '{'
}

// flexClusterJSON is FlexClusterDescription20241113, the fields discovery
// keeps.
type flexClusterJSON struct {
	Name           string `json:"name"`
	StateName      string `json:"stateName"`
	MongoDBVersion string `json:"mongoDBVersion"`
	BackupSettings *struct {
		Enabled *bool `json:"enabled"`
	} `json:"backupSettings"`
}

// serverlessInstanceJSON is ServerlessInstanceDescription, the fields
// discovery keeps.
type serverlessInstanceJSON struct {
	Name                    string `json:"name"`
	StateName               string `json:"stateName"`
	MongoDBVersion          string `json:"mongoDBVersion"`
	ServerlessBackupOptions *struct {
		ContinuousBackupEnabled *bool `json:"serverlessContinuousBackupEnabled"`
	} `json:"serverlessBackupOptions"`
}

// instanceReader reads one result of the family's instance listing in
// projectID.
func instanceReader(projectID string, family atlas.Family) itemReader[atlas.Instance] {
	return func(r *bodyReader) (atlas.Instance, error) {
		raw, err := r.dec.ReadValue()
		if err != nil {
			return atlas.Instance{}, err
		}

		return decodeInstance(projectID, family, json.RawMessage(raw))
	}
}

// decodeInstance turns one Flex cluster or Serverless instance description
// into an Instance of projectID.
func decodeInstance(projectID string, family atlas.Family, raw json.RawMessage) (atlas.Instance, error) {
	if !isObject(raw) {
		return atlas.Instance{}, errors.New("instance is not a JSON object")
	}

	inst := atlas.Instance{ProjectID: projectID, Family: family, Raw: raw}

	switch family {
	case atlas.Flex:
		var j flexClusterJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return atlas.Instance{}, fmt.Errorf("decode flex cluster: %w", err)
		}

		inst.Name, inst.State, inst.MongoDBVersion = j.Name, j.StateName, j.MongoDBVersion
		if j.BackupSettings != nil {
			inst.BackupEnabled = j.BackupSettings.Enabled
		}
	case atlas.Serverless:
		var j serverlessInstanceJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return atlas.Instance{}, fmt.Errorf("decode serverless instance: %w", err)
		}

		inst.Name, inst.State, inst.MongoDBVersion = j.Name, j.StateName, j.MongoDBVersion
		if j.ServerlessBackupOptions != nil {
			inst.BackupEnabled = j.ServerlessBackupOptions.ContinuousBackupEnabled
		}
	default:
		return atlas.Instance{}, fmt.Errorf("%w: family %q", ErrInvalidArgument, family)
	}

	if inst.Name == "" {
		return atlas.Instance{}, errors.New("instance has no name")
	}

	return inst, nil
}
