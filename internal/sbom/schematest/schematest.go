// Package schematest validates CycloneDX JSON documents against the
// CycloneDX 1.7 JSON schema kept in its testdata (copied unchanged from
// the CycloneDX specification repository, Apache-2.0, see
// testdata/LICENSE), with github.com/santhosh-tekuri/jsonschema/v6 and
// formats asserted. Only tests import it.
package schematest

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/*.schema.json
var files embed.FS

// base is where the schemas' $id values live; their relative $refs
// resolve below it, and the compiler finds them there among its
// resources, never on the network.
const base = "http://cyclonedx.org/schema/"

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ents, err := files.ReadDir("testdata")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		data, err := files.ReadFile("testdata/" + e.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		if err := c.AddResource(base+e.Name(), doc); err != nil {
			return nil, err
		}
	}
	return c.Compile(base + "bom-1.7.schema.json")
})

// Validate reports whether data is a valid CycloneDX 1.7 JSON document.
func Validate(data []byte) error {
	sch, err := compiled()
	if err != nil {
		return fmt.Errorf("compiling the CycloneDX schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}
