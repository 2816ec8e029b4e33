package fetch

import (
	"context"
	"fmt"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Discover lists every Flex cluster and every Serverless instance of the
// project. A retired Serverless listing (410, 406, or a 404 for the whole
// endpoint) leaves only the Flex clusters. A name in both listings is a
// migrated instance and is kept as Flex.
func (c *Client) Discover(ctx context.Context, projectID string) ([]atlas.Instance, ListStats, error) {
	var stats ListStats
	if err := checkProjectID(projectID); err != nil {
		return nil, stats, err
	}

	flex, err := c.listInstances(ctx, projectID, atlas.Flex, &stats)
	if err != nil {
		return nil, stats, err
	}

	serverless, err := c.listServerless(ctx, projectID, &stats)
	if err != nil {
		return nil, stats, err
	}

	return c.mergeFamilies(ctx, flex, serverless), stats, nil
}

// listServerless lists the project's Serverless instances, or none when
// the Serverless endpoint is retired.
func (c *Client) listServerless(ctx context.Context, projectID string, stats *ListStats) ([]atlas.Instance, error) {
	insts, err := c.listInstances(ctx, projectID, atlas.Serverless, stats)
	if err != nil && IsRetired(err) {
		c.log.InfoContext(ctx, "serverless listing retired, using flex only",
			"project_id", projectID, "status", StatusOf(err), "error_code", ErrorCodeOf(err))

		return nil, nil
	}

	return insts, err
}

// mergeFamilies appends the Serverless instances whose names Flex does not
// already hold.
func (c *Client) mergeFamilies(ctx context.Context, flex, serverless []atlas.Instance) []atlas.Instance {
	names := make(map[string]bool, len(flex))
	for _, inst := range flex {
		names[inst.Name] = true
	}

	out := flex
	for _, inst := range serverless {
		if names[inst.Name] {
			c.log.DebugContext(ctx, "instance listed by both families, keeping flex",
				"project_id", inst.ProjectID, "instance", inst.Name)

			continue
		}

		names[inst.Name] = true
		out = append(out, inst)
	}

	return out
}

// listInstances pages through one family's instance listing.
func (c *Client) listInstances(ctx context.Context, projectID string, family atlas.Family, stats *ListStats) ([]atlas.Instance, error) {
	r := request{ep: epFlexClusters, projectID: projectID, path: groupPath(projectID) + "/flexClusters"}
	if family == atlas.Serverless {
		r = request{ep: epServerlessInstances, projectID: projectID, path: groupPath(projectID) + "/serverless"}
	}

	// Discovery ends only on a short page: an instance missed for a wrong
	// count would go unexported with nothing to notice it.
	var out []atlas.Instance
	pages := &pageDecoder[atlas.Instance]{item: instanceReader(projectID, family)}
	err := walkPages(ctx, c, r, stats, paging{from: 1}, pages.decode, func(_ int, insts []atlas.Instance, _ bool) error {
		out = append(out, insts...)

		return nil
	})

	return out, err
}

// Resolve turns a target into the instances to export. A project target is
// Discover, or only its family's listing when the family is pinned (a
// retired Serverless listing is then an error). A named target is looked up in its pinned family's listing, or,
// unpinned, in Flex first and in Serverless only when Flex does not know
// the name. A name no listing holds is an *APIError with Status 404.
func (c *Client) Resolve(ctx context.Context, t atlas.Target) ([]atlas.Instance, ListStats, error) {
	if t.Name == "" && t.Family == "" {
		return c.Discover(ctx, t.ProjectID)
	}

	var stats ListStats
	if err := checkTarget(t); err != nil {
		return nil, stats, err
	}

	if t.Name == "" {
		insts, err := c.listInstances(ctx, t.ProjectID, t.Family, &stats)
		if err != nil {
			return nil, stats, fmt.Errorf("resolve %s: %w", t, err)
		}

		return insts, stats, nil
	}

	inst, err := c.resolveNamed(ctx, t, &stats)
	if err != nil {
		return nil, stats, fmt.Errorf("resolve %s: %w", t, err)
	}

	return []atlas.Instance{inst}, stats, nil
}

// checkTarget validates a target before any request.
func checkTarget(t atlas.Target) error {
	if err := checkProjectID(t.ProjectID); err != nil {
		return err
	}

	if t.Name != "" {
		if err := checkName(t.Name); err != nil {
			return err
		}
	}

	switch t.Family {
	case "", atlas.Flex, atlas.Serverless:
		return nil
	default:
		return fmt.Errorf("%w: family %q", ErrInvalidArgument, t.Family)
	}
}

// resolveNamed finds one named instance in the family or families the
// target allows.
func (c *Client) resolveNamed(ctx context.Context, t atlas.Target, stats *ListStats) (atlas.Instance, error) {
	if t.Family == atlas.Serverless {
		return c.findInstance(ctx, t, atlas.Serverless, stats)
	}

	inst, err := c.findInstance(ctx, t, atlas.Flex, stats)
	if t.Family == atlas.Flex || !IsNotFound(err) || ErrorCodeOf(err) != CodeFlexClusterNotFound {
		return inst, err
	}

	inst, serr := c.findInstance(ctx, t, atlas.Serverless, stats)
	if serr != nil && (IsRetired(serr) || IsNotFound(serr)) {
		return atlas.Instance{}, notFound(groupPath(t.ProjectID)+"/flexClusters", CodeFlexClusterNotFound,
			fmt.Sprintf("no flex cluster or serverless instance named %s in project %s", t.Name, t.ProjectID))
	}

	return inst, serr
}

// findInstance looks for t.Name in one family's listing of t's project.
func (c *Client) findInstance(ctx context.Context, t atlas.Target, family atlas.Family, stats *ListStats) (atlas.Instance, error) {
	insts, err := c.listInstances(ctx, t.ProjectID, family, stats)
	if err != nil {
		return atlas.Instance{}, err
	}

	for _, inst := range insts {
		if inst.Name == t.Name {
			return inst, nil
		}
	}

	if family == atlas.Serverless {
		return atlas.Instance{}, notFound(groupPath(t.ProjectID)+"/serverless", CodeServerlessNotFound,
			fmt.Sprintf("no serverless instance named %s in project %s", t.Name, t.ProjectID))
	}

	return atlas.Instance{}, notFound(groupPath(t.ProjectID)+"/flexClusters", CodeFlexClusterNotFound,
		fmt.Sprintf("no flex cluster named %s in project %s", t.Name, t.ProjectID))
}
