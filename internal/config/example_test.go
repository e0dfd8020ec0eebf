package config_test

import (
	"fmt"

	"github.com/tlsgate/tlsgate/internal/config"
)

func ExampleParse() {
	text := `sites:
  - hosts: [app.test]
    routes:
      - path: /api/
        to: ["http://127.0.0.1:${API_PORT:-8000}"]
        lb: random
`
	env := func(string) (string, bool) { return "", false }
	_, err := config.Parse("tlsgate.yaml", []byte(text), config.LoadOptions{LookupEnv: env})
	fmt.Println(err)

	text = text[:len(text)-len("        lb: random\n")]
	c, err := config.Parse("tlsgate.yaml", []byte(text), config.LoadOptions{LookupEnv: env})
	if err != nil {
		panic(err)
	}
	d := c.WithDefaults()
	fmt.Println(d.Sites[0].Routes[0].To[0], d.Sites[0].TLS.Mode, d.Sites[0].Routes[0].LB)
	fmt.Println(c.Position("sites[0].routes[0].to"))
	// Output:
	// tlsgate.yaml:6:13: sites[0].routes[0].lb: lb "random" is unknown; use round_robin, least_conn, first, ip_hash or cookie
	// http://127.0.0.1:8000 local round_robin
	// tlsgate.yaml:5:9
}
