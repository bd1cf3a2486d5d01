// Command gen writes methods_gen.go for package wire from the AMQP 0-9-1
// specification XML with RabbitMQ's extensions (confirm.select, basic.nack,
// exchange.bind, connection.blocked, connection.update-secret, ...).
//
// The XML is the copy shipped in the github.com/rabbitmq/amqp091-go module,
// so the method set is exactly the one the real client speaks. Without -spec
// the generator finds that module with `go list -m`, which works from any
// directory inside this module because go.mod already requires it.
//
// Usage (from the wire package directory, via go generate):
//
//	go run ./internal/gen [-spec path/to/amqp0-9-1.stripped.extended.xml] [-o methods_gen.go]
package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const specModule = "github.com/rabbitmq/amqp091-go"
const specFile = "spec/amqp0-9-1.stripped.extended.xml"

type amqpSpec struct {
	Constants []constant `xml:"constant"`
	Domains   []domain   `xml:"domain"`
	Classes   []class    `xml:"class"`
}

type constant struct {
	Name  string `xml:"name,attr"`
	Value int    `xml:"value,attr"`
	Class string `xml:"class,attr"`
}

type domain struct {
	Name string `xml:"name,attr"`
	Type string `xml:"type,attr"`
}

type class struct {
	Name    string   `xml:"name,attr"`
	Index   int      `xml:"index,attr"`
	Methods []method `xml:"method"`
}

type method struct {
	Name    string  `xml:"name,attr"`
	Index   int     `xml:"index,attr"`
	Content bool    `xml:"content,attr"`
	Fields  []field `xml:"field"`
}

type field struct {
	Name     string `xml:"name,attr"`
	Domain   string `xml:"domain,attr"`
	Type     string `xml:"type,attr"`
	Reserved bool   `xml:"reserved,attr"`
}

// hotMethods are reused by MethodDecoder instead of being allocated per
// frame: the ones a busy connection decodes thousands of times a second.
var hotMethods = map[string]bool{
	"basic.publish": true,
	"basic.ack":     true,
	"basic.nack":    true,
	"basic.reject":  true,
	"basic.deliver": true,
	"basic.get-ok":  true,
	"basic.return":  true,
}

// fieldRenames avoids collisions and unidiomatic names. connection.close and
// channel.close carry the class and method id of the failing method; calling
// those fields ClassID/MethodID would clash with the Method interface.
var fieldRenames = map[string]string{
	"class-id":  "FailedClassID",
	"method-id": "FailedMethodID",
	"nowait":    "NoWait",
}

var goTypes = map[string]string{
	"bit":       "bool",
	"octet":     "uint8",
	"short":     "uint16",
	"long":      "uint32",
	"longlong":  "uint64",
	"shortstr":  "string",
	"longstr":   "string",
	"timestamp": "time.Time",
	"table":     "message.Table",
}

var readFuncs = map[string]string{
	"octet":     "ReadOctet",
	"short":     "ReadShort",
	"long":      "ReadLong",
	"longlong":  "ReadLonglong",
	"shortstr":  "ReadShortstr",
	"longstr":   "ReadLongstr",
	"timestamp": "ReadTimestamp",
	"table":     "ReadTable",
}

var writeFuncs = map[string]string{
	"octet":     "WriteOctet",
	"short":     "WriteShort",
	"long":      "WriteLong",
	"longlong":  "WriteLonglong",
	"shortstr":  "WriteShortstr",
	"longstr":   "WriteLongstr",
	"timestamp": "WriteTimestamp",
	"table":     "WriteTable",
}

func main() {
	specPath := flag.String("spec", "", "path to amqp0-9-1.stripped.extended.xml (default: found via go list -m "+specModule+")")
	out := flag.String("o", "methods_gen.go", "output file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")

	if *specPath == "" {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", specModule).Output()
		if err != nil {
			log.Fatalf("locating %s: %v (pass -spec)", specModule, err)
		}
		*specPath = filepath.Join(strings.TrimSpace(string(dir)), filepath.FromSlash(specFile))
	}
	raw, err := os.ReadFile(*specPath)
	if err != nil {
		log.Fatal(err)
	}
	var spec amqpSpec
	if err := xml.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("parsing %s: %v", *specPath, err)
	}
	src, err := generate(&spec)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

type genField struct {
	GoName string
	Base   string // resolved AMQP base type
}

type genMethod struct {
	Class, Name   string // spec names
	ClassIdx, Idx int
	GoName        string
	Content       bool
	Fields        []genField
}

func generate(spec *amqpSpec) ([]byte, error) {
	domains := map[string]string{}
	for _, d := range spec.Domains {
		domains[d.Name] = d.Type
	}
	resolve := func(f field) (string, error) {
		t := f.Type
		if t == "" {
			t = f.Domain
		}
		// Domains may in principle chain; follow them to a base type.
		for i := 0; i < 10; i++ {
			if _, ok := goTypes[t]; ok {
				return t, nil
			}
			next, ok := domains[t]
			if !ok || next == t {
				break
			}
			t = next
		}
		if _, ok := goTypes[t]; ok {
			return t, nil
		}
		return "", fmt.Errorf("field %q: cannot resolve domain %q to a base type", f.Name, t)
	}

	var methods []genMethod
	for _, c := range spec.Classes {
		for _, m := range c.Methods {
			gm := genMethod{
				Class: c.Name, Name: m.Name,
				ClassIdx: c.Index, Idx: m.Index,
				GoName:  camel(c.Name) + camel(m.Name),
				Content: m.Content,
			}
			for _, f := range m.Fields {
				base, err := resolve(f)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %v", c.Name, m.Name, err)
				}
				name, ok := fieldRenames[f.Name]
				if !ok {
					name = camel(f.Name)
				}
				gm.Fields = append(gm.Fields, genField{GoName: name, Base: base})
			}
			methods = append(methods, gm)
		}
	}

	usesTime, usesMessage := false, false
	for _, m := range methods {
		for _, f := range m.Fields {
			switch f.Base {
			case "timestamp":
				usesTime = true
			case "table":
				usesMessage = true
			}
		}
	}

	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated by go run ./internal/gen from %s (%s); DO NOT EDIT.\n\n", filepath.Base(specFile), specModule)
	p("package wire\n\n")
	if usesTime || usesMessage {
		p("import (\n")
		if usesTime {
			p("\t\"time\"\n")
		}
		if usesMessage {
			p("\n\t\"github.com/sluice-mq/sluice/broker/message\"\n")
		}
		p(")\n\n")
	}

	// Constants.
	p("// Frame types and framing constants from the specification.\nconst (\n")
	for _, c := range spec.Constants {
		if !strings.HasPrefix(c.Name, "frame-") || c.Class != "" || c.Name == "frame-error" {
			continue
		}
		if c.Name == "frame-min-size" {
			p("\t%s = %d\n", camel(c.Name), c.Value)
		} else {
			p("\t%s uint8 = %d\n", camel(c.Name), c.Value)
		}
	}
	p(")\n\n")

	var replies []constant
	for _, c := range spec.Constants {
		if c.Class != "" || c.Name == "reply-success" {
			replies = append(replies, c)
		}
	}
	p("// Reply codes for connection.close and channel.close. Soft errors close a\n// channel, hard errors the whole connection (see IsHardError).\nconst (\n")
	for _, c := range replies {
		p("\t%s uint16 = %d // %s\n", camel(c.Name), c.Value, upperName(c.Name))
	}
	p(")\n\n")

	p("// ReplyName returns RabbitMQ's name for a reply code (\"NOT_FOUND\" for 404),\n")
	p("// the prefix of its reply texts, or \"\" for a code the spec does not define.\n")
	p("func ReplyName(code uint16) string {\n\tswitch code {\n")
	for _, c := range replies {
		p("\tcase %s:\n\t\treturn %q\n", camel(c.Name), upperName(c.Name))
	}
	p("\t}\n\treturn \"\"\n}\n\n")

	p("// IsHardError reports whether the spec classes code as a hard error, one that\n")
	p("// closes the connection rather than just the channel.\n")
	p("func IsHardError(code uint16) bool {\n\tswitch code {\n\tcase ")
	first := true
	for _, c := range replies {
		if c.Class == "hard-error" {
			if !first {
				p(", ")
			}
			first = false
			p("%s", camel(c.Name))
		}
	}
	p(":\n\t\treturn true\n\t}\n\treturn false\n}\n\n")

	p("// Class ids.\nconst (\n")
	for _, c := range spec.Classes {
		p("\tClass%s uint16 = %d\n", camel(c.Name), c.Index)
	}
	p(")\n\n")

	p("// Method ids, unique only within their class.\nconst (\n")
	for _, m := range methods {
		p("\tMethod%s uint16 = %d // %s.%s\n", m.GoName, m.Idx, m.Class, m.Name)
	}
	p(")\n\n")

	// Structs.
	for _, m := range methods {
		p("// %s is %s.%s (%d/%d).", m.GoName, m.Class, m.Name, m.ClassIdx, m.Idx)
		if m.Content {
			p(" It is followed by a content header and body.")
		}
		p("\ntype %s struct {\n", m.GoName)
		for _, f := range m.Fields {
			p("\t%s %s\n", f.GoName, goTypes[f.Base])
		}
		p("}\n\n")
		p("// ClassID returns %s.\nfunc (*%s) ClassID() uint16 { return Class%s }\n\n", "Class"+camel(m.Class), m.GoName, camel(m.Class))
		p("// MethodID returns %s.\nfunc (*%s) MethodID() uint16 { return Method%s }\n\n", "Method"+m.GoName, m.GoName, m.GoName)
		p("// HasContent reports whether %s.%s carries content.\nfunc (*%s) HasContent() bool { return %v }\n\n", m.Class, m.Name, m.GoName, m.Content)
		genRead(&b, m)
		genWrite(&b, m)
	}

	// MethodName.
	p("// MethodName returns the spec's name of a method (\"basic.publish\"), as\n// RabbitMQ uses in its reply texts, or \"\" if it is unknown.\n")
	p("func MethodName(classID, methodID uint16) string {\n\tswitch uint32(classID)<<16 | uint32(methodID) {\n")
	for _, m := range methods {
		p("\tcase %d<<16 | %d:\n\t\treturn %q\n", m.ClassIdx, m.Idx, m.Class+"."+m.Name)
	}
	p("\t}\n\treturn \"\"\n}\n\n")

	// NewMethod.
	p("// NewMethod returns a new zero value of the method's struct, or nil if the\n// ids name no method.\n")
	p("func NewMethod(classID, methodID uint16) Method {\n\tswitch uint32(classID)<<16 | uint32(methodID) {\n")
	for _, m := range methods {
		p("\tcase %d<<16 | %d:\n\t\treturn new(%s)\n", m.ClassIdx, m.Idx, m.GoName)
	}
	p("\t}\n\treturn nil\n}\n\n")

	p("func knownClass(classID uint16) bool {\n\tswitch classID {\n\tcase ")
	for i, c := range spec.Classes {
		if i > 0 {
			p(", ")
		}
		p("%d", c.Index)
	}
	p(":\n\t\treturn true\n\t}\n\treturn false\n}\n\n")

	// MethodDecoder's reusable structs.
	p("// hotMethods holds the structs a MethodDecoder reuses between frames.\ntype hotMethods struct {\n")
	for _, m := range methods {
		if hotMethods[m.Class+"."+m.Name] {
			p("\t%s %s\n", lowerFirst(m.GoName), m.GoName)
		}
	}
	p("}\n\n")

	// decodeArgs: concrete calls so the Decoder stays on the caller's stack.
	p("// decodeArgs decodes the arguments of method classID/methodID from d. With a\n")
	p("// non-nil hot the frequent methods are decoded into its structs instead of\n")
	p("// new ones. Each case calls Read on the concrete type so that d does not\n// escape to the heap.\n")
	p("func decodeArgs(classID, methodID uint16, d *Decoder, hot *hotMethods) (Method, error) {\n")
	p("\tswitch uint32(classID)<<16 | uint32(methodID) {\n")
	for _, m := range methods {
		p("\tcase %d<<16 | %d:\n", m.ClassIdx, m.Idx)
		if hotMethods[m.Class+"."+m.Name] {
			p("\t\tvar m *%s\n\t\tif hot != nil {\n\t\t\tm = &hot.%s\n\t\t} else {\n\t\t\tm = new(%s)\n\t\t}\n", m.GoName, lowerFirst(m.GoName), m.GoName)
		} else {
			p("\t\tm := new(%s)\n", m.GoName)
		}
		p("\t\treturn m, m.Read(d)\n")
	}
	p("\t}\n\treturn nil, unknownMethod(classID, methodID)\n}\n")

	src, err := format.Source(b.Bytes())
	if err != nil {
		return b.Bytes(), fmt.Errorf("formatting generated code: %v", err)
	}
	return src, nil
}

// bitRuns walks the fields calling fn for each non-bit field and for each run
// of consecutive bit fields (at most 8 per octet, as the spec packs them).
func bitRuns(fields []genField, single func(f genField), bits func(run []genField)) {
	for i := 0; i < len(fields); {
		if fields[i].Base != "bit" {
			single(fields[i])
			i++
			continue
		}
		j := i
		for j < len(fields) && fields[j].Base == "bit" && j-i < 8 {
			j++
		}
		bits(fields[i:j])
		i = j
	}
}

func genRead(b *bytes.Buffer, m genMethod) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("// Read decodes the arguments of %s.%s.\n", m.Class, m.Name)
	if len(m.Fields) == 0 {
		p("func (m *%s) Read(d *Decoder) error { return nil }\n\n", m.GoName)
		return
	}
	p("func (m *%s) Read(d *Decoder) (err error) {\n", m.GoName)
	declared := false
	bitRuns(m.Fields, func(f genField) {
		p("\tif m.%s, err = d.%s(); err != nil {\n\t\treturn err\n\t}\n", f.GoName, readFuncs[f.Base])
	}, func(run []genField) {
		if !declared {
			p("\tvar bits uint8\n")
			declared = true
		}
		p("\tif bits, err = d.ReadOctet(); err != nil {\n\t\treturn err\n\t}\n")
		for i, f := range run {
			p("\tm.%s = bits&%#02x != 0\n", f.GoName, 1<<i)
		}
	})
	p("\treturn nil\n}\n\n")
}

func genWrite(b *bytes.Buffer, m genMethod) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("// Write encodes the arguments of %s.%s.\n", m.Class, m.Name)
	if len(m.Fields) == 0 {
		p("func (m *%s) Write(e *Encoder) {}\n\n", m.GoName)
		return
	}
	p("func (m *%s) Write(e *Encoder) {\n", m.GoName)
	declared := false
	bitRuns(m.Fields, func(f genField) {
		p("\te.%s(m.%s)\n", writeFuncs[f.Base], f.GoName)
	}, func(run []genField) {
		if !declared {
			p("\tvar bits uint8\n")
			declared = true
		} else {
			p("\tbits = 0\n")
		}
		for i, f := range run {
			p("\tif m.%s {\n\t\tbits |= %#02x\n\t}\n", f.GoName, 1<<i)
		}
		p("\te.WriteOctet(bits)\n")
	})
	p("}\n\n")
}

// camel turns "auto-delete" into "AutoDelete" and "reserved-1" into
// "Reserved1", with Go's initialisms for "id".
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "-") {
		if part == "" {
			continue
		}
		if part == "id" {
			b.WriteString("ID")
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func upperName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
