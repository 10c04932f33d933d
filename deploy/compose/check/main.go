// Command check validates deploy/compose/docker-compose.yml offline with compose-go,
// the library behind `docker compose config`: it loads the file with the variables of
// an env file, which checks it against the Compose specification and resolves
// interpolation, anchors and references. It then checks what Luister relies on (a
// health check on every long-running service, the images of the three services built
// from the repository's Dockerfile) and writes the inline configs (the API's TOML) to
// a directory, so that the services themselves can check them.
//
//	go run . ../docker-compose.yml ../.env.example OUT_DIR
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 4 {
		fail("usage: check COMPOSE_FILE ENV_FILE OUT_DIR")
	}
	file, envFile, out := os.Args[1], os.Args[2], os.Args[3]
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithEnvFiles(envFile), cli.WithDotEnv, cli.WithInterpolation(true))
	if err != nil {
		fail(err.Error())
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err.Error())
	}
	names := make([]string, 0, len(p.Services))
	for name, s := range p.Services {
		names = append(names, name)
		// A one-shot service (restart "no", such as kafka-acls) runs to completion.
		if s.Restart != "no" && (s.HealthCheck == nil || len(s.HealthCheck.Test) == 0) {
			fail(fmt.Sprintf("service %s has no health check", name))
		}
	}
	sort.Strings(names)
	for _, name := range []string{"ingest", "processor", "api"} {
		s, ok := p.Services[name]
		if !ok {
			fail("service " + name + " is missing")
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
			fail("service " + name + " is not built from the repository's Dockerfile")
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fail(err.Error())
	}
	for name, c := range p.Configs {
		if c.Content == "" || name == "kafka-admin" {
			continue
		}
		path := filepath.Join(out, name+".toml")
		if err := os.WriteFile(path, []byte(c.Content), 0o644); err != nil {
			fail(err.Error())
		}
	}
	fmt.Printf("%s: valid Compose file, services %v\n", file, names)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "compose check:", msg)
	os.Exit(1)
}
