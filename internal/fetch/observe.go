package fetch

import "time"

// family names the API family of an endpoint for the observer hooks: the
// label of the request metrics.
func (e endpoint) family() string {
	if e.version == versionFlex {
		return "flex"
	}

	return "serverless"
}

func (c *Client) observeResponse(ep endpoint, status int) {
	if c.cfg.OnResponse != nil {
		c.cfg.OnResponse(ep.family(), status)
	}
}

func (c *Client) observeRetry(ep endpoint) {
	if c.cfg.OnRetry != nil {
		c.cfg.OnRetry(ep.family())
	}
}

func (c *Client) observeRateLimitWait(d time.Duration) {
	if c.cfg.OnRateLimitWait != nil {
		c.cfg.OnRateLimitWait(d)
	}
}
