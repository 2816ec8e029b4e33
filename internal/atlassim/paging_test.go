package atlassim_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

// page is one listing page as a client sees it.
type page struct {
	ids   []string
	links map[string]string
	total any
}

func readPage(t *testing.T, c *http.Client, url, accept string) page {
	t.Helper()

	a := get(t, c, url, accept)
	require.Equal(t, http.StatusOK, a.status, string(a.body))

	m := a.json(t)
	p := page{links: map[string]string{}, total: m["totalCount"]}
	for _, r := range m["results"].([]any) {
		p.ids = append(p.ids, r.(map[string]any)["id"].(string))
	}

	for _, l := range m["links"].([]any) {
		l := l.(map[string]any)
		p.links[l["rel"].(string)] = l["href"].(string)
	}

	return p
}

// walk follows next links from the first page and returns every page.
func walk(t *testing.T, c *http.Client, first, accept string) []page {
	t.Helper()

	var pages []page
	for url := first; url != ""; {
		p := readPage(t, c, url, accept)
		pages = append(pages, p)
		url = p.links["next"]
		require.Less(t, len(pages), 100, "runaway paging")
	}

	return pages
}

func TestPaging(t *testing.T) {
	t.Parallel()

	const size = 3
	tests := []struct {
		name  string
		items int
		pages int
	}{
		{name: "no items", items: 0, pages: 1},
		{name: "one item", items: 1, pages: 1},
		{name: "exactly one full page", items: size, pages: 1},
		{name: "k full pages", items: 3 * size, pages: 3},
		{name: "k pages and one", items: 3*size + 1, pages: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			sim := openSim(newClock())
			flexIDs, slsIDs := seed(sim, tt.items)
			srv := start(t, sim)

			for _, fam := range []struct {
				url, accept string
				ids         []string
			}{
				{flexSnaps(srv.URL), atlassim.MediaTypeFlex, flexIDs},
				{slsSnaps(srv.URL), atlassim.MediaTypeServerless, slsIDs},
			} {
				pages := walk(t, srv.Client(), fam.url+"?itemsPerPage="+strconv.Itoa(size), fam.accept)
				require.Len(t, pages, tt.pages)

				var got []string
				for i, p := range pages {
					got = append(got, p.ids...)
					require.EqualValues(t, tt.items, p.total)
					require.Contains(t, p.links["self"], "pageNum="+strconv.Itoa(i+1))
					require.Equal(t, i > 0, p.links["previous"] != "", "previous link on page %d", i+1)
				}

				require.Equal(t, fam.ids, got, "newest first, each once")
			}
		})
	}
}

func TestPagingParams(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, _ := seed(sim, 5)
	srv := start(t, sim, contract.ResponsesOnly())
	url := flexSnaps(srv.URL)

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()

		p := readPage(t, srv.Client(), url, atlassim.MediaTypeFlex)
		require.Equal(t, flexIDs, p.ids)
		require.Contains(t, p.links["self"], "itemsPerPage=100")
		require.Empty(t, p.links["next"])
	})

	t.Run("without count", func(t *testing.T) {
		t.Parallel()

		p := readPage(t, srv.Client(), url+"?includeCount=false&itemsPerPage=2", atlassim.MediaTypeFlex)
		require.Nil(t, p.total)
		require.Contains(t, p.links["next"], "includeCount=false")
	})

	t.Run("past the end", func(t *testing.T) {
		t.Parallel()

		p := readPage(t, srv.Client(), url+"?pageNum=9&itemsPerPage=2", atlassim.MediaTypeFlex)
		require.Empty(t, p.ids)
		require.EqualValues(t, 5, p.total)
		require.Empty(t, p.links["next"])
		require.NotEmpty(t, p.links["previous"])
	})

	t.Run("largest page", func(t *testing.T) {
		t.Parallel()

		p := readPage(t, srv.Client(), url+"?itemsPerPage=500&pageNum=2147483647", atlassim.MediaTypeFlex)
		require.Empty(t, p.ids)
	})

	bad := []struct {
		name, query, param string
	}{
		{name: "page size zero", query: "itemsPerPage=0", param: "itemsPerPage"},
		{name: "page size too big", query: "itemsPerPage=501", param: "itemsPerPage"},
		{name: "page size not a number", query: "itemsPerPage=ten", param: "itemsPerPage"},
		{name: "page zero", query: "pageNum=0", param: "pageNum"},
		{name: "count not a boolean", query: "includeCount=maybe", param: "includeCount"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			a := get(t, srv.Client(), url+"?"+tt.query, atlassim.MediaTypeFlex)
			requireAPIError(t, a, http.StatusBadRequest, atlassim.CodeInvalidAttribute)
			require.Equal(t, []any{tt.param}, a.json(t)["parameters"])
		})
	}
}

// TestPageShift pins what offset paging does when a snapshot is added
// between two page requests: the listing shifts and the next page repeats
// an id, which is what the exporter's removal confirmation must survive.
func TestPageShift(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, _ := seed(sim, 4)
	srv := start(t, sim)

	newest := atlassim.SnapshotID(t0.Add(time.Hour), 99)
	sim.OnPage(func(projectID, instance string, n int) {
		if n == 2 && len(sim.Snapshots(projectID, instance)) == 4 {
			sim.PutSnapshot(projectID, instance, atlassim.FlexSnapshot(newest, t0.Add(time.Hour), "RUNNING"))
		}
	})

	pages := walk(t, srv.Client(), flexSnaps(srv.URL)+"?itemsPerPage=2", atlassim.MediaTypeFlex)
	require.Len(t, pages, 3)
	require.Equal(t, flexIDs[:2], pages[0].ids)
	require.Equal(t, flexIDs[1:3], pages[1].ids, "page 2 repeats the last id of page 1")
	require.Equal(t, flexIDs[3:], pages[2].ids)
	require.Equal(t, newest, sim.Snapshots(projectA, "alpha")[0]["id"])
}

// TestPageCache checks that cached pages follow every change of data.
func TestPageCache(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, _ := seed(sim, 3)
	srv := start(t, sim)
	url := flexSnaps(srv.URL) + "?itemsPerPage=2"

	require.Equal(t, flexIDs[:2], readPage(t, srv.Client(), url, atlassim.MediaTypeFlex).ids)

	sim.RemoveSnapshot(projectA, "alpha", flexIDs[0])
	require.Equal(t, flexIDs[1:3], readPage(t, srv.Client(), url, atlassim.MediaTypeFlex).ids)

	changed := atlassim.FlexSnapshot(flexIDs[2], t0.Add(time.Hour), "FAILED")
	sim.PutSnapshot(projectA, "alpha", changed)
	p := readPage(t, srv.Client(), url, atlassim.MediaTypeFlex)
	require.Equal(t, []string{flexIDs[2], flexIDs[1]}, p.ids, "a replaced snapshot moves to its new time")

	for i := range 70 {
		readPage(t, srv.Client(), fmt.Sprintf("%s&pageNum=%d", url, i+1), atlassim.MediaTypeFlex)
	}
}
