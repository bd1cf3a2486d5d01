package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Definitions: rabbitmqctl's export_definitions and import_definitions,
// over GET and POST /api/definitions. PATH "-" is standard output or input.

// maxDefinitionsFile bounds what import_definitions reads; the broker
// has its own bound (--max-definitions-size) and says so when it is hit.
const maxDefinitionsFile = 1 << 30

func (c *ctl) exportDefinitions(a []string) error {
	if err := need(a, 1, 1, "export_definitions PATH (- for standard output)"); err != nil {
		return err
	}
	raw, _, err := c.expect("GET", "/api/definitions", nil, http.StatusOK)
	if err != nil {
		return err
	}
	if a[0] == "-" {
		_, err = c.out.Write(raw)
		return err
	}
	c.info("Exporting definitions in JSON to a file at %q ...", a[0])
	if err := os.WriteFile(a[0], raw, 0o600); err != nil {
		return fail(exitError, "cannot write %s: %v", a[0], err)
	}
	return nil
}

func (c *ctl) importDefinitions(a []string) error {
	if err := need(a, 1, 1, "import_definitions PATH (- for standard input)"); err != nil {
		return err
	}
	var raw []byte
	var err error
	if a[0] == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, maxDefinitionsFile))
	} else {
		c.info("Importing definitions in JSON from a file at %q ...", a[0])
		var f *os.File
		if f, err = os.Open(a[0]); err == nil {
			raw, err = io.ReadAll(io.LimitReader(f, maxDefinitionsFile))
			f.Close()
		}
	}
	if err != nil {
		return fail(exitError, "cannot read %s: %v", a[0], err)
	}
	if !json.Valid(raw) {
		return fail(exitError, "%s is not JSON", a[0])
	}
	body, st, err := c.expect("POST", "/api/definitions", json.RawMessage(raw), http.StatusOK, http.StatusNoContent)
	if err != nil {
		return err
	}
	if st == http.StatusOK {
		// The broker left parts out (plugins sluice lacks and the like).
		var res struct {
			Skipped []struct {
				Section, VHost, Component, Name, Reason string
			} `json:"skipped"`
		}
		if json.Unmarshal(body, &res) == nil {
			for _, s := range res.Skipped {
				fmt.Fprintf(c.out, "Not imported: %s %s %s %s: %s\n", s.Section, s.VHost, s.Component, s.Name, s.Reason)
			}
		}
	}
	c.info("Successfully imported definitions from %q", a[0])
	return nil
}
