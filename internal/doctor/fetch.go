package doctor

import (
	"fmt"
	"io"
	"net/http"
)

// maxFetch bounds what doctor reads from a responder or AIA server: a
// certificate or an OCSP response is a few KiB.
const maxFetch = 1 << 20

// fetch sends req and returns its 200 body, at most maxFetch bytes. Any
// other status is an error naming who answered it (what).
func fetch(req *http.Request, what string) ([]byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", what, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxFetch))
}
